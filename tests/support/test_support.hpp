// The test-support library every test links: one deadline runner for async
// tests (run_until), one process spawner (run_process, spawn_process,
// background_process, all over one posix_spawn call with process_options),
// one temporary directory (temp_dir) and small file helpers.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace sluice::test {

/// Thrown by run_until when the deadline passes before the awaitable completes.
/// Thread safety: a plain value.
struct deadline_exceeded : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
/// Runs `ioc` on `threads` threads until it stops or runs out of work; stops it
/// when `deadline` passes first and returns false then.
bool run_io(boost::asio::io_context& ioc, std::chrono::milliseconds deadline, unsigned threads);
}  // namespace detail

/// Runs `ioc` on `threads` threads until it runs out of work or `deadline`
/// passes; returns false (after stopping it) on the deadline, so a deadlock
/// fails the test instead of hanging CTest. Restarts `ioc` first, so it may be
/// called repeatedly on one io_context.
/// Thread safety: one caller per io_context.
inline bool run_until(boost::asio::io_context& ioc, std::chrono::milliseconds deadline,
                      unsigned threads = 1) {
  ioc.restart();
  return detail::run_io(ioc, deadline, threads);
}

/// Runs `a` on `ex` (an executor of `ioc`, for example a strand) by running
/// `ioc` on `threads` threads until `a` completes, then stops `ioc` (other
/// pending work stays queued for a later call). Returns what `a` returns and
/// rethrows what it throws; throws deadline_exceeded when `deadline` passes
/// first.
/// Thread safety: one caller per io_context.
template <class Executor, class T>
T run_until(boost::asio::io_context& ioc, const Executor& ex, boost::asio::awaitable<T> a,
            std::chrono::milliseconds deadline = std::chrono::seconds(30), unsigned threads = 1) {
  // Shared with the completion handler: after a deadline the coroutine may
  // still complete later (on another run of `ioc`), after this frame is gone.
  struct state {
    std::exception_ptr error;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
    std::atomic<bool> done{false};
  };
  auto st = std::make_shared<state>();
  ioc.restart();
  if constexpr (std::is_void_v<T>) {
    boost::asio::co_spawn(ex, std::move(a), [st, &ioc](std::exception_ptr e) {
      st->error = e;
      st->done = true;
      ioc.stop();
    });
  } else {
    boost::asio::co_spawn(ex, std::move(a), [st, &ioc](std::exception_ptr e, T v) {
      st->error = e;
      st->value = std::move(v);
      st->done = true;
      ioc.stop();
    });
  }
  detail::run_io(ioc, deadline, threads);
  if (!st->done) {
    throw deadline_exceeded("deadline passed: the awaitable did not complete");
  }
  if (st->error) {
    std::rethrow_exception(st->error);
  }
  if constexpr (!std::is_void_v<T>) {
    return std::move(*st->value);
  }
}

/// run_until on `ioc`'s own executor.
template <class T>
T run_until(boost::asio::io_context& ioc, boost::asio::awaitable<T> a,
            std::chrono::milliseconds deadline = std::chrono::seconds(30), unsigned threads = 1) {
  return run_until(ioc, ioc.get_executor(), std::move(a), deadline, threads);
}

/// How a child process is started. argv[0] is searched in PATH unless it
/// contains a slash. stdin is `input` (or /dev/null when empty).
/// Thread safety: a plain value.
struct process_options {
  std::string input;                          ///< written to the child's stdin (run_process only)
  bool capture_stderr = true;                 ///< false: the child inherits the test's stderr
  std::optional<std::filesystem::path> cwd;   ///< working directory of the child
  std::map<std::string, std::string> env;     ///< variables set (or overridden) in the child
  std::vector<std::string> unset_env;         ///< variables removed from the child's environment
  std::chrono::milliseconds timeout{60'000};  ///< run_process: SIGKILL after this long
};

/// Result of running a program.
/// Thread safety: a plain value.
struct process_result {
  int exit_code = -1;  ///< exit status, or 128+signal
  std::string out;
  std::string err;      ///< empty unless options.capture_stderr
  long max_rss_kb = 0;  ///< peak resident set size of the child
};

/// Runs `argv` to completion, capturing stdout (and stderr unless
/// options.capture_stderr is false); kills it after options.timeout. Throws
/// std::system_error when the program cannot be started.
/// Thread safety: safe to call concurrently.
process_result run_process(const std::vector<std::string>& argv,
                           const process_options& options = {});

/// A program started in the background with stdout/stderr sent to files.
/// Thread safety: a plain value.
struct child_process {
  int pid = -1;
};

/// Starts `argv` with stdin from /dev/null and output into the given files
/// (options.input and options.capture_stderr are not used).
/// Thread safety: safe to call concurrently.
child_process spawn_process(const std::vector<std::string>& argv,
                            const std::filesystem::path& out_file,
                            const std::filesystem::path& err_file,
                            const process_options& options = {});

/// Waits for the child up to `timeout` (then kills it); returns its exit code
/// (128+signal when killed by a signal) and its peak RSS.
/// Thread safety: one waiter per child.
process_result wait_process(child_process c, std::chrono::milliseconds timeout);

/// A child process running in the background with its stdout on a pipe
/// (stdin from /dev/null, stderr inherited), for servers and long runs.
/// The destructor sends SIGTERM if it still runs, then SIGKILL after 5 s.
/// Thread safety: one thread at a time.
class background_process {
 public:
  explicit background_process(const std::vector<std::string>& argv,
                              const process_options& options = {});
  ~background_process();
  background_process(const background_process&) = delete;
  background_process& operator=(const background_process&) = delete;

  int pid() const noexcept { return pid_; }

  /// The next stdout line (without the newline); nullopt at end of output or
  /// when `timeout` passes first.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);

  /// Sends `sig` (when still running) and waits up to `timeout` for the exit;
  /// returns the exit code (128 + signal when killed by one), or -1 when it
  /// did not exit in time.
  int signal_and_wait(int sig, std::chrono::milliseconds timeout);

  /// Waits up to `timeout` for the exit without signalling; -1 on timeout.
  int wait(std::chrono::milliseconds timeout);

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  std::string pending_;
  std::optional<int> exit_code_;
};

/// Path of the built sluice program ($SLUICE_BIN); throws when it is not set.
/// Thread safety: safe to call concurrently.
std::string sluice_bin();

/// A fresh private directory under $TMPDIR (or /tmp) named `prefix-XXXXXX`,
/// removed with its contents on destruction unless SLUICE_KEEP_TEMP is set.
/// Thread safety: not shared.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "sluice-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& p) const { return path_ / p; }

 private:
  std::filesystem::path path_;
};

/// Writes `text` to `path`, creating its parent directories.
/// Thread safety: distinct paths only.
void write_file(const std::filesystem::path& path, const std::string& text);

/// Reads a whole file ("" when it cannot be opened).
/// Thread safety: safe to call concurrently.
std::string read_file(const std::filesystem::path& path);

/// Checks that the Markdown table whose header row is `header_row` in each
/// of `docs` (paths relative to $SLUICE_SOURCE_DIR) is exactly `table`; with
/// SLUICE_UPDATE_DOCS set, rewrites them instead. Returns one message per
/// document that differs or has no such table (empty: all agree).
/// Thread safety: distinct documents only.
std::vector<std::string> check_doc_table(const std::vector<std::string>& docs,
                                         const std::string& header_row, const std::string& table);

}  // namespace sluice::test
