// Helpers for the sink tests: a scratch directory, results, and running a
// coroutine to completion with a deadline (a hang fails instead of blocking).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "sluice/core/item.hpp"
#include "sluice/stage/stage.hpp"

namespace sluice::test_sinks {

/// A fresh directory under the build tree (or /tmp), removed on destruction.
struct scratch_dir {
  std::filesystem::path path;
  explicit scratch_dir(const std::string& name) {
    const char* bin = std::getenv("SLUICE_BINARY_DIR");
    std::filesystem::path base =
        bin ? std::filesystem::path(bin) / "test-scratch" : std::filesystem::temp_directory_path();
    path = base / (name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline result_ptr make_result(std::string url, int status = 200, std::string body = "",
                              std::string error_kind = "") {
  auto r = std::make_shared<result>();
  r->url = std::move(url);
  r->status = status;
  r->bytes = body.size();
  r->body = std::move(body);
  r->attempts = 1;
  r->error_kind = std::move(error_kind);
  if (!r->error_kind.empty()) {
    r->error_message = "failed: " + r->error_kind;
  }
  return r;
}

/// A stage context on a strand of `io`, collecting log lines.
struct context_fixture {
  boost::asio::io_context io;
  stage_context ctx;
  std::shared_ptr<std::vector<std::string>> logs = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> logs_mutex = std::make_shared<std::mutex>();
  explicit context_fixture(std::string type = "test") {
    ctx.name = "sinks[0] (" + type + ")";
    ctx.type = type;
    ctx.executor = boost::asio::make_strand(io);
    ctx.base_dir = std::filesystem::current_path();
    auto logs_ = logs;
    auto m = logs_mutex;
    ctx.log_sink = [logs_, m](log_level, std::string_view s) {
      std::lock_guard<std::mutex> lock(*m);
      logs_->emplace_back(s);
    };
  }

  /// Runs `a` on the context's strand until it completes (or `limit` passes:
  /// then throws). Rethrows what the coroutine threw.
  template <class T>
  T run(boost::asio::awaitable<T> a, std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::exception_ptr error;
    std::optional<T> value;
    bool done = false;
    boost::asio::co_spawn(ctx.executor, std::move(a), [&](std::exception_ptr e, T v) {
      error = e;
      value = std::move(v);
      done = true;
    });
    drive(done, limit);
    if (error) {
      std::rethrow_exception(error);
    }
    return std::move(*value);
  }

  void run(boost::asio::awaitable<void> a, std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(ctx.executor, std::move(a), [&](std::exception_ptr e) {
      error = e;
      done = true;
    });
    drive(done, limit);
    if (error) {
      std::rethrow_exception(error);
    }
  }

  /// Runs handlers for about `d` (lets timers fire).
  void idle(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }

 private:
  void drive(bool& done, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (!done) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("deadline passed: the coroutine did not complete");
      }
      io.run_one_for(std::chrono::milliseconds(100));
      if (io.stopped()) {
        io.restart();
      }
    }
  }
};

}  // namespace sluice::test_sinks
