// Pieces shared by the result sinks: retrying I/O with backoff, an append-only
// file that repairs a torn tail and rolls back a failed append, the result ->
// JSON conversion, and a one-shot flush timer on the sink's strand.
// Internal to stages/sinks (and its tests); not part of the public API.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>

#include "sluice/core/item.hpp"
#include "sluice/stage/stage.hpp"

namespace sluice::stages::sinks {

/// An I/O failure that is worth retrying (disk full, read-only file system,
/// a locked or full database). std::system_error is retried too.
/// Thread safety: a plain exception value.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How a sink retries a failing write: `attempts` tries in all, waiting
/// `backoff`, then twice that, ... capped at `max_backoff`.
/// Thread safety: a plain value.
struct retry_policy {
  int attempts = 5;
  std::chrono::nanoseconds backoff = std::chrono::milliseconds(200);
  std::chrono::nanoseconds max_backoff = std::chrono::seconds(5);
};

/// The schema entries every sink accepts (`retries`, `retry_backoff`).
option_schema retry_schema();

/// Reads `retries` and `retry_backoff` from validated options.
retry_policy retry_from(const options& o);

/// Runs `step` (synchronous; throws io_error or std::system_error on an I/O
/// failure and must leave no partial effect behind when it throws) until it
/// succeeds. Between failures it logs a warning and waits on `ex` with
/// exponential backoff; after the last attempt it throws std::runtime_error
/// saying `what`, the cause and the attempt count, which stops the pipeline.
/// Thread safety: run on the sink's strand.
/// `off_thread`: each attempt runs on the sinks' blocking-I/O thread (a
/// commit's fsync), so the run's own threads keep serving the workers while
/// the disk catches up; the caller's strand waits, so `step` still never runs
/// beside the sink's other calls.
boost::asio::awaitable<void> with_retries(const stage_context& ctx, retry_policy policy,
                                          std::string what, std::function<void()> step,
                                          bool off_thread = false);

/// Replaces invalid UTF-8 sequences with U+FFFD so the text is valid JSON
/// string content (Boost.JSON copies bytes as they are).
/// Thread safety: a pure function.
std::string utf8_clean(std::string_view s);

/// What result_to_json includes.
struct json_options {
  bool include_body = false;  ///< add `body` (UTF-8 text) or `body_base64`
  bool include_headers = true;
};

/// One result as a JSON object: url, final_url (when redirected), index,
/// producer, worker, ok, status (when non-zero), error_kind and error_message
/// (on failure), bytes, attempts, redirects (when non-zero), content_type,
/// headers, the timings in milliseconds (queue_ms, dns_ms, connect_ms, tls_ms,
/// ttfb_ms when non-zero, total_ms) and the wall-clock time it was stored
/// (`stored_at`, RFC 3339 UTC), and `meta`, the item's meta object (from a
/// `jsonl` or `csv` producer) when it has one. Every string is valid UTF-8 (invalid bytes
/// become U+FFFD). With `include_body`, a successful result's body, read from
/// its temporary file when streamed, as `body` (UTF-8 text) or `body_base64`.
/// Thread safety: a pure function of `r`.
boost::json::object result_to_json(const result& r, const json_options& opts = {});

/// `2026-11-21T05:12:03.123Z` for now.
/// Thread safety: safe from any thread.
std::string utc_now_rfc3339();

/// Milliseconds as a double, for reports.
inline double to_ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

/// How an append_file finds the end of the last complete record on open.
enum class record_format {
  lines,  ///< a record ends at '\n' (JSON lines: no raw newline inside a record)
  csv,    ///< RFC 4180: a record ends at a line break outside double quotes
};

/// A file opened for appending whole records. On open, a torn last record
/// (left by a crash in the middle of a write) is truncated away. `append`
/// writes a block of complete records; when the write fails part way, the
/// file is truncated back to where it was, so a retry never duplicates or
/// tears a record. Special files (a pipe, /dev/stdout) are written as they are.
/// Thread safety: one strand at a time.
class append_file {
 public:
  /// Opens (creating parent directories and the file) and repairs the tail,
  /// or empties the file when `truncate`. Throws std::system_error.
  /// `repaired_bytes` tells how much was cut.
  append_file(const std::filesystem::path& path, record_format format, bool truncate = false);
  ~append_file();
  append_file(const append_file&) = delete;
  append_file& operator=(const append_file&) = delete;

  /// Appends `data` in full or not at all (see above). Throws std::system_error.
  void append(std::string_view data);
  /// fsync(2). Throws std::system_error.
  void sync();
  /// Resuming: cuts the file back to `size` (what the last commit left) and
  /// fsyncs. Throws std::runtime_error when the file is shorter than that
  /// (changed outside sluice), std::system_error when it cannot.
  void cut_to(std::uint64_t size);
  /// Size of the file (0 for special files).
  std::uint64_t size() const noexcept { return size_; }
  /// Bytes of a torn last record removed when opening.
  std::uint64_t repaired_bytes() const noexcept { return repaired_; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool regular_ = false;
  std::uint64_t size_ = 0;
  std::uint64_t repaired_ = 0;
};

/// The length of the longest prefix of `data` made of complete records.
/// Thread safety: a pure function.
std::size_t complete_prefix(std::string_view data, record_format format);

/// A one-shot timer on a sink's strand that runs a flush later (batching by
/// time). `arm` does nothing when already armed; `cancel` disarms (the flush
/// never runs afterwards). An exception thrown by the flush is kept and
/// rethrown by `rethrow`, so the next write or close reports it.
/// Thread safety: the sink's strand only.
class flush_timer {
 public:
  explicit flush_timer(boost::asio::any_io_executor ex);
  ~flush_timer();
  void arm(std::chrono::nanoseconds after, std::function<boost::asio::awaitable<void>()> flush);
  void cancel();
  /// Cancels, then waits until a flush that already started has finished.
  boost::asio::awaitable<void> shutdown();
  /// Like shutdown, then re-enables arm() and rethrows what a timed flush
  /// threw: for a commit, which flushes itself and goes on.
  boost::asio::awaitable<void> drain();
  void rethrow();

  /// After a write buffered its records: runs `flush` now when `due` (a batch
  /// limit was reached), otherwise arms the timer to run it after `after` when
  /// `pending` (something is buffered). Exceptions from `flush` propagate.
  boost::asio::awaitable<void> flush_or_arm(bool due, bool pending, std::chrono::nanoseconds after,
                                            std::function<boost::asio::awaitable<void>()> flush);

  /// A sink's close: shutdown, rethrow what a timed flush threw, then run
  /// `flush` a last time for what is still buffered.
  boost::asio::awaitable<void> close(std::function<boost::asio::awaitable<void>()> flush);

 private:
  struct state;
  std::shared_ptr<state> state_;
};

/// Throws std::system_error for `errno` with `what` and the path.
[[noreturn]] void throw_errno(const std::string& what, const std::filesystem::path& p);

}  // namespace sluice::stages::sinks
