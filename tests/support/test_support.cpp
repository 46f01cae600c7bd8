#include "test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

#include "sluice/runtime/run_threads.hpp"

extern char** environ;

namespace sluice::test {

namespace fs = std::filesystem;

bool detail::run_io(boost::asio::io_context& ioc, std::chrono::milliseconds deadline,
                    unsigned threads) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  bool timed_out = false;
  // A thread, not a timer on `ioc`: a timer would keep `ioc` busy until the
  // deadline, and it could not fire while a handler blocks.
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(m);
    if (!cv.wait_for(lock, deadline, [&] { return done; })) {
      timed_out = true;
      ioc.stop();
    }
  });
  run_on_threads(ioc, threads);
  {
    std::lock_guard<std::mutex> lock(m);
    done = true;
  }
  cv.notify_one();
  watchdog.join();
  return !timed_out;
}

namespace {

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The child's environment: ours, minus options.unset_env, plus options.env.
std::vector<std::string> child_environment(const process_options& o) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::string name(kv.substr(0, kv.find('=')));
    bool dropped = o.env.count(name) != 0;
    for (const auto& u : o.unset_env) {
      dropped = dropped || u == name;
    }
    if (!dropped) {
      env.emplace_back(kv);
    }
  }
  for (const auto& [k, v] : o.env) {
    env.push_back(k + "=" + v);
  }
  return env;
}

// The one spawner: starts argv with the given fds as stdin/stdout/stderr
// (-1: /dev/null for stdin, inherited for stdout and stderr). Every pipe the
// callers create is O_CLOEXEC, so children never hold each other's pipes.
pid_t spawn(const std::vector<std::string>& argv, const process_options& o, int in_fd, int out_fd,
            int err_fd) {
  if (argv.empty()) {
    throw std::invalid_argument("spawn: empty argv");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  if (out_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  }
  if (err_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  }
  if (o.cwd) {
    posix_spawn_file_actions_addchdir_np(&actions, o.cwd->c_str());
  }
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  std::vector<std::string> env = child_environment(o);
  std::vector<char*> envp;
  for (auto& e : env) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::system_error(rc, std::generic_category(), "posix_spawnp " + argv[0]);
  }
  return pid;
}

struct pipe_fds {
  int read = -1;
  int write = -1;
  pipe_fds() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    read = fds[0];
    write = fds[1];
  }
  ~pipe_fds() {
    close_read();
    close_write();
  }
  pipe_fds(const pipe_fds&) = delete;
  pipe_fds& operator=(const pipe_fds&) = delete;
  void close_read() {
    if (read >= 0) {
      ::close(read);
      read = -1;
    }
  }
  void close_write() {
    if (write >= 0) {
      ::close(write);
      write = -1;
    }
  }
};

}  // namespace

process_result run_process(const std::vector<std::string>& argv, const process_options& options) {
  std::optional<pipe_fds> in;
  if (!options.input.empty()) {
    in.emplace();
  }
  pipe_fds out;
  std::optional<pipe_fds> err;
  if (options.capture_stderr) {
    err.emplace();
  }
  pid_t pid = spawn(argv, options, in ? in->read : -1, out.write, err ? err->write : -1);
  if (in) {
    in->close_read();
    ::fcntl(in->write, F_SETFL, O_NONBLOCK);
  }
  out.close_write();
  if (err) {
    err->close_write();
  }
  process_result r;
  std::size_t written = 0;
  auto end = std::chrono::steady_clock::now() + options.timeout;
  char buf[65536];
  for (;;) {
    std::vector<pollfd> fds;
    if (out.read >= 0) {
      fds.push_back({out.read, POLLIN, 0});
    }
    if (err && err->read >= 0) {
      fds.push_back({err->read, POLLIN, 0});
    }
    if (in && in->write >= 0) {
      fds.push_back({in->write, POLLOUT, 0});
    }
    if (fds.empty()) {
      break;
    }
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) {
      break;
    }
    for (auto& f : fds) {
      if (f.revents == 0) {
        continue;
      }
      if (in && f.fd == in->write) {
        auto n = ::write(in->write, options.input.data() + written, options.input.size() - written);
        if (n > 0) {
          written += static_cast<std::size_t>(n);
        }
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == options.input.size()) {
          in->close_write();
        }
        continue;
      }
      auto n = ::read(f.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      bool is_out = f.fd == out.read;
      if (n <= 0) {
        is_out ? out.close_read() : err->close_read();
      } else {
        (is_out ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  struct rusage ru {};
  while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  r.exit_code = exit_code_of(status);
  r.max_rss_kb = ru.ru_maxrss;
  return r;
}

child_process spawn_process(const std::vector<std::string>& argv, const fs::path& out_file,
                            const fs::path& err_file, const process_options& options) {
  int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || err < 0) {
    int e = errno;
    ::close(out);
    ::close(err);
    throw std::system_error(e, std::generic_category(), "open " + out_file.string());
  }
  pid_t pid = -1;
  try {
    pid = spawn(argv, options, -1, out, err);
  } catch (...) {
    ::close(out);
    ::close(err);
    throw;
  }
  ::close(out);
  ::close(err);
  return {pid};
}

process_result wait_process(child_process c, std::chrono::milliseconds timeout) {
  process_result r;
  auto end = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  struct rusage ru {};
  for (;;) {
    pid_t done = ::wait4(c.pid, &status, WNOHANG, &ru);
    if (done == c.pid) {
      break;
    }
    if (std::chrono::steady_clock::now() > end) {
      ::kill(c.pid, SIGKILL);
      ::wait4(c.pid, &status, 0, &ru);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exit_code = exit_code_of(status);
  r.max_rss_kb = ru.ru_maxrss;
  return r;
}

background_process::background_process(const std::vector<std::string>& argv,
                                       const process_options& options) {
  pipe_fds out;
  pid_ = spawn(argv, options, -1, out.write, -1);
  out_fd_ = out.read;
  out.read = -1;
}

background_process::~background_process() {
  if (signal_and_wait(SIGTERM, std::chrono::seconds(5)) < 0) {
    signal_and_wait(SIGKILL, std::chrono::seconds(5));
  }
  if (out_fd_ >= 0) {
    ::close(out_fd_);
  }
}

std::optional<std::string> background_process::read_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto nl = pending_.find('\n');
    if (nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_fd_ < 0) {
      return std::nullopt;
    }
    pollfd p{out_fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    if (rc <= 0) {
      return std::nullopt;
    }
    char buf[4096];
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (!pending_.empty()) {
        std::string line = std::move(pending_);
        pending_.clear();
        return line;
      }
      return std::nullopt;
    }
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

int background_process::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) {
    return *exit_code_;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = exit_code_of(status);
      return *exit_code_;
    }
    if (r < 0 && errno != EINTR) {
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int background_process::signal_and_wait(int sig, std::chrono::milliseconds timeout) {
  if (exit_code_) {
    return *exit_code_;
  }
  ::kill(pid_, sig);
  return wait(timeout);
}

std::string sluice_bin() {
  const char* p = std::getenv("SLUICE_BIN");
  if (!p) {
    throw std::runtime_error("SLUICE_BIN is not set (run the tests through ctest)");
  }
  return p;
}

temp_dir::temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  if (!::mkdtemp(templ.data())) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + templ);
  }
  path_ = templ;
}

temp_dir::~temp_dir() {
  if (std::getenv("SLUICE_KEEP_TEMP") == nullptr) {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
}

void write_file(const fs::path& path, const std::string& text) {
  if (path.has_parent_path()) {
    fs::create_directories(path.parent_path());
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> check_doc_table(const std::vector<std::string>& docs,
                                         const std::string& header_row, const std::string& table) {
  std::vector<std::string> problems;
  const char* src = std::getenv("SLUICE_SOURCE_DIR");
  if (src == nullptr) {
    return {"SLUICE_SOURCE_DIR is not set (run the tests through ctest)"};
  }
  for (const auto& doc : docs) {
    fs::path path = fs::path(src) / doc;
    std::string text = read_file(path);
    auto begin = text.find(header_row + "\n");
    if (begin == std::string::npos) {
      problems.push_back(path.string() + " has no table headed '" + header_row + "'");
      continue;
    }
    auto end = begin;
    while (end < text.size() && text[end] == '|') {
      end = text.find('\n', end) + 1;
    }
    if (std::getenv("SLUICE_UPDATE_DOCS") != nullptr) {
      text.replace(begin, end - begin, table);
      write_file(path, text);
    } else if (text.compare(begin, end - begin, table) != 0) {
      problems.push_back(path.string() +
                         ": the table differs from the code's; run the test with "
                         "SLUICE_UPDATE_DOCS=1");
    }
  }
  return problems;
}

}  // namespace sluice::test
