// Helpers shared by the tests: running an io_context with a deadline, running
// the sluice program, temporary directories.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

namespace sluice::test {

/// Runs `ioc` on `threads` threads until it runs out of work or `deadline`
/// passes; returns false (after stopping it) on the deadline, so a deadlock
/// fails the test instead of hanging CTest.
bool run_with_deadline(boost::asio::io_context& ioc, std::chrono::milliseconds deadline,
                       unsigned threads = 1);

/// Result of running a program.
struct process_result {
  int exit_code = -1;  ///< exit status, or 128+signal
  std::string out;
  std::string err;
  long max_rss_kb = 0;  ///< peak resident set size of the child
};

/// A program started in the background with stdout/stderr sent to files.
struct child_process {
  int pid = -1;
};

/// Starts `argv` with stdin from /dev/null and output into the given files.
child_process spawn_process(const std::vector<std::string>& argv,
                            const std::filesystem::path& out_file,
                            const std::filesystem::path& err_file);

/// Waits for the child up to `timeout` (then kills it); returns its exit code
/// (128+signal when killed by a signal) and its peak RSS.
process_result wait_process(child_process c, std::chrono::milliseconds timeout);

/// Runs `argv` (argv[0] is a path) with optional stdin text, capturing output.
process_result run_process(const std::vector<std::string>& argv, const std::string& input = {},
                           std::chrono::seconds timeout = std::chrono::seconds(60));

/// Path of the built sluice program ($SLUICE_BIN).
std::string sluice_bin();

/// A fresh temporary directory removed on destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& p) const { return path_ / p; }

 private:
  std::filesystem::path path_;
};

/// Writes `text` to `path`.
void write_file(const std::filesystem::path& path, const std::string& text);

/// Reads a whole file.
std::string read_file(const std::filesystem::path& path);

}  // namespace sluice::test
