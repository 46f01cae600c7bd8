// Running a validated pipeline: the io_context, the strands, the lifecycle.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "sluice/config/config.hpp"

namespace sluice {

/// Latency percentiles, nanoseconds.
struct latency_summary {
  std::uint64_t count = 0;
  std::int64_t p50 = 0, p90 = 0, p99 = 0, max = 0;
};

/// Per-host figures for the report's top hosts.
struct host_summary {
  std::string host;  ///< host[:port] of the item's URL, or "(none)"
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::int64_t p99 = 0;  ///< latency, nanoseconds
};

/// One item on the run's timeline (run_options::timeline_items): which
/// worker processed it, from when to when (seconds since the run started).
/// Thread safety: a plain value.
struct timeline_item {
  std::uint32_t worker = 0;
  std::uint32_t producer = 0;
  std::uint64_t seq = 0;  ///< the item's ordinal among its producer's items (item::seq)
  double start_s = 0;
  double end_s = 0;
  bool failed = false;
};

/// The final report of a run.
/// Thread safety: a plain value.
struct run_report {
  std::string name;
  std::uint64_t produced = 0;
  std::uint64_t consumed = 0;  ///< results delivered (ok + failed)
  /// Items produced but never started: a stop (signal, failed stage) drops
  /// what is queued. produced == consumed + unstarted (+ abandoned in flight).
  std::uint64_t unstarted = 0;
  std::uint64_t failed = 0;
  double elapsed_s = 0;
  double items_per_s = 0;
  std::size_t queue_capacity = 0;
  std::size_t queue_high_water = 0;
  latency_summary time_in_queue;
  latency_summary latency;  ///< per-item processing time in the consumer
  std::map<std::string, std::uint64_t> errors_by_kind;
  std::map<int, std::uint64_t> status_counts;
  std::map<std::string, std::uint64_t> status_classes;  ///< "2xx" -> count
  std::vector<host_summary> top_hosts;                  ///< by requests, at most 10
  /// The consumer's per-origin concurrency limits at the end (the http
  /// consumer's `per_host`), the busiest first, at most 10.
  std::vector<origin_limit> origin_limits;
  std::uint64_t bytes = 0;
  std::uint64_t retries = 0;
  /// "", "SIGINT", "SIGTERM", "SIGHUP", "stage failed", "environment",
  /// "stop_after_failed"
  std::string stop_reason;
  std::string stage_error;  ///< "<stage>: <what>" when a stage threw
  int exit_code = 0;
  /// Items cancelled in flight by a second signal, or stopped by an
  /// environment failure, and, with state, left for the next run (not
  /// delivered to sinks).
  std::uint64_t interrupted = 0;
  /// `dedup: url`: items dropped before the queue because an earlier item
  /// (of any producer, in this run or the run it resumes) had the same URL.
  std::uint64_t duplicates_dropped = 0;
  /// Resumable runs: the state directory ("" without state), the items done
  /// by earlier runs, and this run's commits with their total duration.
  std::string state_dir;
  std::uint64_t resumed_done = 0;
  std::uint64_t commits = 0;
  double commit_s = 0;
  std::string max_failed = "0";  ///< the run's `max_failed:` as written ("0", "10", "2%")
  bool too_many_failed = false;  ///< failed exceeded max_failed (exit code 3)
  /// With run_options::timeline_items: the first that many items to finish,
  /// in start order, and the number of consumer workers (the lanes).
  std::vector<timeline_item> timeline;
  std::uint32_t workers = 0;

  boost::json::object to_json() const;
  /// The human report printed on stderr.
  std::string to_text() const;
  /// One line on the failures: `sluice: NAME: 3 of 50 items failed (connect 2, http_status 1)`.
  std::string failure_line() const;
};

class progress_reporter;

/// How to run.
struct run_options {
  bool handle_signals = true;             ///< install SIGINT/SIGTERM handling
  bool progress = false;                  ///< periodic progress on stderr
  std::optional<std::string> stats_json;  ///< write the report as JSON here
  /// With `progress`: makes the reporter (default: make_stderr_progress()).
  /// A throw from the reporter is a failure like a stage's (exit 1).
  std::function<std::unique_ptr<progress_reporter>()> progress_factory;
  /// Keep a resumable state (README "Resuming and exactly-once"): in
  /// `state_dir`, or else in the pipeline's `state:` directory, or else
  /// `.sluice/<name>` beside the pipeline file. Off when the pipeline says
  /// `state: false`. `fresh` discards an unfinished run's state.
  bool state = false;
  std::optional<std::string> state_dir;
  bool fresh = false;
  /// Record the per-worker timeline of the first this many items to finish
  /// into run_report::timeline; 0: record nothing (and pay nothing).
  std::size_t timeline_items = 0;
};

/// Runs the pipeline to completion: producers → queue.join() → workers
/// cancelled → sinks closed → report. Returns the report; its exit_code is 0
/// (success), 1 (a stage failed), 3 (more items failed than `max_failed`),
/// 130/143/129 (interrupted by SIGINT/SIGTERM/SIGHUP).
/// With `handle_signals`: a first SIGINT/SIGTERM stops the producers and
/// the workers: in-flight items finish, queued ones are not started
/// (`unstarted`); a second cancels in-flight work and waits at most 5 s for
/// producers and workers to honour it (the ones that do not are abandoned:
/// the run reports and returns without them, and the caller should exit); a
/// third exits the process at once (`_exit`, 130/143), flushing nothing.
/// Thread safety: blocks the calling thread; call from one thread at a time.
run_report run_pipeline(pipeline_config& cfg, const run_options& opts);

}  // namespace sluice
