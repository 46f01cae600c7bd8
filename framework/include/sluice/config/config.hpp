// Loading and validating a pipeline file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/stage/options.hpp"
#include "sluice/stage/registry.hpp"

namespace sluice {

/// One configuration problem, printed compiler-style:
/// `file:line:column: error: message` (+ `note: ...` when there is a note).
/// `line` and `column` are 1-based (0 when unknown). `path` is the dotted key
/// path, for example `producers[0].to`.
/// Thread safety: a plain value.
struct diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;
  std::string message;
  std::string note;
};

/// Formats a diagnostic as `file:line:col: error: message` plus an indented note line.
std::string format_diagnostic(const diagnostic& d);

/// A source position, 1-based.
struct source_mark {
  int line = 0;
  int column = 0;
};

/// One declared stage (producer, consumer, sink or service) after validation.
/// `marks` holds the position of every given option (key `""` is the stage
/// itself), so late errors (config_error from a factory) can still be
/// reported at the right line:column. `when` is a sink's filter expression
/// (empty: every result).
/// Thread safety: a plain value.
struct stage_decl {
  const stage_info* info = nullptr;
  std::string path;  ///< for example `sinks[1]`
  std::string display_name;
  options opts;
  std::map<std::string, source_mark> marks;
  std::string when;
};

/// How many failed items a run may have and still exit 0 (`max_failed:`):
/// a count, or a percentage of the items consumed. More makes the exit code 3.
/// Thread safety: a plain value.
struct failure_budget {
  std::uint64_t count = 0;        ///< `max_failed: N` (default 0: any failure exits 3)
  std::optional<double> percent;  ///< `max_failed: 2%`
  /// True when `failed` of `consumed` items is more than the budget allows.
  bool exceeded(std::uint64_t failed, std::uint64_t consumed) const {
    if (percent) {
      return consumed > 0 &&
             static_cast<double>(failed) * 100.0 > *percent * static_cast<double>(consumed);
    }
    return failed > count;
  }
};

/// Resumable runs: where the state lives and how often sinks commit
/// (`state:`, `commit:`; README "Resuming and exactly-once").
/// Thread safety: a plain value.
struct state_options {
  bool enabled = true;  ///< `state: false` (or `--no-state`) turns it off
  /// The state directory as written, relative to the pipeline file's
  /// directory; empty: `.sluice/<name>` beside the pipeline file.
  std::string dir;
  std::chrono::nanoseconds commit_interval = std::chrono::seconds(1);  ///< `commit.interval`
  std::uint64_t commit_items = 10000;                                  ///< `commit.items`
};

/// The Prometheus endpoint of a run (`metrics:`, `sluice run --metrics`;
/// docs/metrics.md).
/// Thread safety: a plain value.
struct metrics_options {
  /// `metrics.listen`: IP:PORT to serve GET /metrics on (port 0: an
  /// ephemeral one); empty: no endpoint. Validated when loaded.
  std::string listen;
  /// `metrics.linger`: how long the endpoint keeps serving the final figures
  /// after the run ends, so a scraper sees them (a signal cuts it short).
  std::chrono::nanoseconds linger{0};
};

/// A fully validated pipeline.
/// Thread safety: a plain value.
struct pipeline_config {
  std::string file;  ///< the pipeline file as given
  std::string name;
  unsigned threads = 0;  ///< io_context threads (hardware threads when 0 was not given)
  std::size_t queue_capacity = 1000;
  std::vector<stage_decl> producers;
  stage_decl consumer;
  std::uint32_t workers = 1;
  failure_budget max_failed;            ///< `max_failed:` (exit 3 beyond it)
  std::uint64_t stop_after_failed = 0;  ///< `stop_after_failed:` stop gracefully at N (0: never)
  state_options state;                  ///< `state:` and `commit:`
  std::string dedup;                    ///< `dedup:` "url", "final_url", or empty (off)
  metrics_options metrics;              ///< `metrics:`
  std::vector<stage_decl> sinks;
  std::vector<stage_decl> services;
  /// Services are constructed while loading (their variables feed
  /// interpolation); `run` starts them, `check` only drops them.
  std::vector<std::shared_ptr<service>> service_instances;
  std::vector<std::string> plugins;  ///< resolved plugin paths, in load order
};

/// What loading needs besides the file.
/// `overrides` are `key.path=value` strings from `--set`. `variables` are
/// extra `${name}` values (environment variables are always available).
/// `load_plugin` is called for each `plugins:` entry (a path resolved against
/// the file's directory) before any stage is validated; it returns an error
/// message or an empty string.
struct load_options {
  std::vector<std::string> overrides;
  std::map<std::string, std::string> variables;
  std::function<std::string(const std::string& path)> load_plugin;
};

/// The outcome of loading: a config when there were no errors, else every
/// diagnostic found (all of them, not just the first).
struct load_result {
  std::optional<pipeline_config> config;
  std::vector<diagnostic> diagnostics;
};

/// The top-level keys of a pipeline file, declared once: the loader checks
/// and converts them with it and `sluice schema` describes them from it.
/// `producers`, `consumers` and `sinks` are listed by name (type object)
/// and validated against the registry's stage schemas; `max_failed` (a count
/// or a percentage) and `state` (a directory or false) are strings with their
/// own parse. Service sections (registered by plugins) are not in it.
/// Thread safety: returns an immutable static.
const option_schema& pipeline_schema();

/// The keys the framework itself reads on a stage of `kind`, beside `type`
/// and the stage's own schema: `workers` on the consumer, `when` on a sink.
/// Thread safety: returns an immutable static.
const option_schema& framework_stage_options(stage_kind kind);

/// Reads, interpolates, overrides and validates a pipeline file against the
/// registry. Never throws for bad input; problems become diagnostics.
/// Thread safety: safe to call concurrently with distinct arguments; the
/// registry may be modified by `load_plugin`.
load_result load_pipeline(const std::string& file, registry& reg, const load_options& opts);

/// Same, from text already in memory (`file` names it in diagnostics).
load_result load_pipeline_text(const std::string& text, const std::string& file, registry& reg,
                               const load_options& opts);

}  // namespace sluice
