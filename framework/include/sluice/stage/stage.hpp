// The stage API: what every producer, consumer, sink and service implements,
// built-in or plugin alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "sluice/core/item.hpp"
#include "sluice/stage/options.hpp"

namespace sluice {

/// Severity of a log line written through stage_context::log.
enum class log_level { debug, info, warn, error };

/// Everything a stage instance gets from the framework.
/// `executor` is the stage's own strand (for a consumer: the pool's executor;
/// each worker gets its own strand in worker_info). `base_dir` is the
/// directory of the pipeline file, against which relative paths resolve.
/// `temp_dir` is a per-run directory for large temporary files (removed at the
/// end). `stop_requested` turns true once a graceful stop began.
/// Thread safety: immutable after construction except `log`, which is safe
/// from any thread.
struct stage_context {
  std::string name;  ///< display name, for example `producers[0] (range)`
  std::string type;  ///< registered stage type
  options opts;      ///< validated options, defaults applied
  boost::asio::any_io_executor executor;
  std::filesystem::path base_dir;
  std::filesystem::path temp_dir;
  std::function<bool()> stop_requested = [] { return false; };
  /// For a sink of a resumed run: the position its last durable commit()
  /// returned. The sink restores that state when constructed (jsonl: cuts
  /// the file back to that size) instead of what a fresh run does
  /// (truncating, unless `append`). Unset in a fresh run.
  std::optional<std::string> resume_position;
  std::function<void(log_level, std::string_view)> log_sink;

  /// Writes one line to the pipeline's log (stderr), prefixed with `name`.
  void log(log_level level, std::string_view message) const;

  /// Resolves `p` against base_dir unless it is absolute or `-`.
  std::filesystem::path resolve(const std::string& p) const;
};

/// A producer emits items; the framework pushes them into the bounded queue.
/// Subclasses implement `next`, which appends up to `max` items to `out`
/// (batching amortises the coroutine frame) and returns false once exhausted
/// (items appended by that last call are still pushed). `next` may await
/// (timers, I/O) on the stage's strand. Cancellation (a shutdown) surfaces as
/// an operation_aborted system_error from a suspended await.
/// Thread safety: called from the stage's strand only, never concurrently.
class producer {
 public:
  virtual ~producer() = default;
  virtual boost::asio::awaitable<bool> next(std::vector<item>& out, std::size_t max) = 0;
  /// How many items this producer will emit, when known up front (for progress).
  virtual std::optional<std::uint64_t> total() const { return std::nullopt; }

  /// Resumable runs (optional; stage ABI 2). True when skip_to() works. A
  /// resumed run whose producer is not resumable (stdin, a plugin without
  /// this API) fails with a message instead of guessing.
  virtual bool resumable() const { return false; }
  /// Called at most once, before the first next(), when a run resumes: the
  /// first `count` items this producer emits are done; continue with the
  /// one after them. `offset` is the resume_offset the producer set on item
  /// `count - 1` (0 when count is 0, or for producers that resume by count).
  /// total() then counts what is left.
  virtual void skip_to(std::uint64_t count, std::uint64_t offset) {
    (void)count;
    (void)offset;
  }
};

/// Identity of one consumer worker. `executor` is the worker's own strand.
struct worker_info {
  std::uint32_t index = 0;
  boost::asio::any_io_executor executor;
  /// False when no sink of the pipeline reads result bodies (every sink's
  /// wants_bodies() is false): a consumer may then count body bytes
  /// (result::bytes) without keeping them, saving memory and copies.
  bool keep_bodies = true;
};

/// One origin's concurrency limit as a consumer reports it (the http
/// consumer's `per_host`, fixed or adaptive), for the run report and metrics.
/// Thread safety: a plain value.
struct origin_limit {
  std::string origin;  ///< scheme://host:port
  std::uint32_t limit = 0;
  std::uint32_t in_flight = 0;
  bool adaptive = false;  ///< `per_host: auto`
};

/// A consumer turns one item into one result. One instance serves all M
/// workers, so `process` runs concurrently on M strands: state shared between
/// calls must be synchronised (never hold a mutex across co_await).
/// Per-item failures are data (result::error_kind), never exceptions; a throw
/// means the stage is broken and stops the pipeline.
/// Cancellation (a second signal) surfaces as operation_aborted from a
/// suspended await; a consumer may catch it and return a failed result.
/// Thread safety: `process` concurrently from many strands; `close` once,
/// after every worker finished.
class consumer {
 public:
  virtual ~consumer() = default;

  /// Turns one item into its result. Who owns each `result` field (the
  /// runtime fills its part after process() returns, before any sink sees it):
  /// - the consumer sets: `final_url`, `status`, `attempts`, `redirects`,
  ///   `bytes`, `content_type`, `headers`, `body`, `body_file`, `error_kind`,
  ///   `error_message`, and the phases of `time` (`dns` ... `total`);
  /// - the runtime sets `url` only when the consumer left it empty, and
  ///   `time.total` only when it is zero (then: the time process() took);
  /// - the runtime always overwrites `index`, `producer`, `worker`,
  ///   `enqueued_at`, `started_at`, `finished_at` and `time.queue`;
  /// - on a throw, or on cancellation by a second signal, the runtime makes
  ///   the result (`error_kind` "exception" or "cancelled").
  /// The runtime counts `attempts - 1` as retries and `bytes` as received.
  virtual boost::asio::awaitable<result> process(item it, worker_info worker) = 0;
  virtual boost::asio::awaitable<void> close() { co_return; }

  /// True when the runtime must await before_pop() before each pop. Read once
  /// per worker at start, so consumers that do not pace pay nothing per item.
  virtual bool paces_workers() const { return false; }

  /// Awaited by a worker before it takes its next item, on the worker's
  /// strand, when paces_workers() is true. A consumer that paces its workers
  /// waits here, so the item stays in the queue (and counts as queued) while
  /// the worker waits: the asyncq demo's "sleep before every get", a rate
  /// limit. Cancellation at shutdown surfaces as operation_aborted, as in
  /// process(); the worker then ends without taking an item.
  /// Thread safety: concurrently from many strands, like process().
  virtual boost::asio::awaitable<void> before_pop(worker_info) { co_return; }

  /// The per-origin concurrency limits now, at most `max` (the busiest
  /// first); none by default. Called during the run (a metrics scrape) and
  /// after close() (the report).
  /// Thread safety: from any thread, concurrently with process().
  virtual std::vector<origin_limit> origin_limits(std::size_t max) const {
    (void)max;
    return {};
  }
};

/// Results as delivered to sinks: shared read-only between all sinks.
using result_ptr = std::shared_ptr<const result>;

/// A sink stores results. `write` receives batches in completion order and
/// `close` flushes; both run on the sink's strand, never concurrently.
/// A throw from either stops the pipeline (exit 1) after the other sinks
/// flushed.
/// Thread safety: the sink's strand only.
class sink {
 public:
  virtual ~sink() = default;
  virtual boost::asio::awaitable<void> write(const std::vector<result_ptr>& batch) = 0;
  virtual boost::asio::awaitable<void> close() { co_return; }
  /// Whether this sink reads result::body or result::body_file. When no sink
  /// of a pipeline does, consumers are told they need not keep bodies
  /// (worker_info::keep_bodies). Read once, after construction.
  virtual bool wants_bodies() const { return true; }

  /// Resumable runs (optional; stage ABI 2). Makes everything passed to
  /// write() so far durable (jsonl: written and fsync'd; sqlite: COMMIT;
  /// files: renamed and fsync'd) and returns the position to restore on
  /// resume (see stage_context::resume_position). The runtime calls it on
  /// the sink's strand between writes, every `commit:` interval and at the
  /// end. A sink that keeps nothing durable returns nullopt (the default):
  /// its output is at-least-once across a crash. A throw is a write failure.
  virtual boost::asio::awaitable<std::optional<std::string>> commit() { co_return std::nullopt; }
};

/// A service runs beside a pipeline (for example the built-in HTTP origin).
/// It is declared as a top-level YAML section named after its type
/// (`origin: {...}`), constructed before the stages, and its `variables()`
/// feed `${name}` interpolation in the rest of the file. `start` begins
/// serving on ctx.executor; `stop` ends it (synchronously).
/// Thread safety: start/stop from the runtime's control thread.
class service {
 public:
  virtual ~service() = default;
  virtual std::map<std::string, std::string> variables() const = 0;
  virtual void start() = 0;
  virtual void stop() = 0;
};

}  // namespace sluice
