// Progress display on stderr while a pipeline runs.
#pragma once

#include <string_view>

#include <cstdint>
#include <memory>
#include <optional>

namespace sluice {

/// A point-in-time view of a running pipeline, as the runtime samples it.
struct progress_snapshot {
  std::uint64_t produced = 0;  ///< items pushed into the queue
  std::uint64_t done = 0;      ///< results delivered (ok + failed)
  std::uint64_t failed = 0;
  std::uint64_t in_flight = 0;  ///< items a worker is processing
  std::uint64_t queued = 0;     ///< items in the queue
  std::uint64_t bytes = 0;
  std::optional<std::uint64_t> total;  ///< known when every producer knows its total
  double elapsed_s = 0;
};

/// Renders progress: a tqdm-like bar redrawn in place when stderr is a
/// terminal (at most 10 times a second), plain periodic log lines otherwise.
/// Thread safety: one thread at a time (the runtime's progress timer).
class progress_reporter {
 public:
  virtual ~progress_reporter() = default;
  /// Called about every 100 ms with a fresh snapshot.
  virtual void update(const progress_snapshot& s) = 0;
  /// Called once at the end with the final counts; leaves the cursor on a new line.
  virtual void finish(const progress_snapshot& s) = 0;
};

/// Writes `text` (whole lines) to standard output, retrying short writes and
/// EINTR, without garbling a progress bar drawn on the same terminal: when
/// standard output is a terminal and a bar is showing, the bar's line is
/// erased first and drawn again below the text. Stages that print to the
/// terminal (the `stdout` sink) use it instead of stdio.
/// Returns 0, or the errno of the write that failed (EPIPE when the reader
/// went away; SIGPIPE is ignored by the CLI).
/// Thread safety: safe from any thread; serialised with the bar's redraws.
int write_stdout(std::string_view text);

/// The default reporter for stderr: a bar when stderr is a terminal, log lines
/// every `log_interval_s` seconds otherwise; no colour when NO_COLOR is set.
std::unique_ptr<progress_reporter> make_stderr_progress(double log_interval_s = 10.0);

}  // namespace sluice
