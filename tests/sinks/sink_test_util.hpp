// Helpers for the sink tests: results, and a stage context whose coroutines
// run through test::run_until (a hang fails instead of blocking).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "common.hpp"
#include "sluice/core/item.hpp"
#include "sluice/stage/stage.hpp"
#include "test_support.hpp"

namespace sluice::test_sinks {

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

/// Retries for a test of a failing disk: two attempts, 10 ms apart, so that
/// giving up is quick.
inline stages::sinks::retry_policy quick_retries() {
  return {.attempts = 2, .backoff = std::chrono::milliseconds(10)};
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

  /// Runs `a` on the context's strand until it completes (test::run_until:
  /// throws when `limit` passes first). Rethrows what the coroutine threw.
  template <class T>
  T run(boost::asio::awaitable<T> a, std::chrono::seconds limit = std::chrono::seconds(30)) {
    return test::run_until(io, ctx.executor, std::move(a), limit);
  }

  /// Runs handlers for about `d` (lets timers fire).
  void idle(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
};

/// Checks the batching contract of sink `s`, configured to store batches of
/// 3 results or after 50 ms: two results stay buffered, the third stores all
/// three, a fourth is stored by the timer with no further write, and close
/// stores a fifth. `stored()` counts the results in the file or database.
/// Thread safety: the test's thread only.
inline void check_batches_by_count_and_time(context_fixture& f, sink& s,
                                            const std::function<std::size_t()>& stored) {
  auto results = [](int from, int to) {
    std::vector<result_ptr> v;
    for (int i = from; i < to; ++i) {
      v.push_back(make_result("http://h/" + std::to_string(i), 200, "b"));
    }
    return v;
  };
  f.run(s.write(results(1, 3)));
  CHECK(stored() == 0);  // buffered
  f.run(s.write(results(3, 4)));
  CHECK(stored() == 3);  // the count reached 3
  f.run(s.write(results(4, 5)));
  CHECK(stored() == 3);
  // The flush timer stores the straggler without another write call.
  for (int i = 0; i < 50 && stored() < 4; ++i) {
    f.idle(std::chrono::milliseconds(20));
  }
  CHECK(stored() == 4);
  f.run(s.write(results(5, 6)));
  f.run(s.close());  // close stores what is buffered
  CHECK(stored() == 5);
}

}  // namespace sluice::test_sinks
