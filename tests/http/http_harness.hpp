// Test helpers for the http consumer: build it through its registry entry
// and run items through it from M worker strands on a 2-thread io_context
// (test::run_until: a deadline fails the test instead of hanging CTest).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>

#include "sluice/stage/registry.hpp"
#include "sluice/stages/http.hpp"
#include "test_support.hpp"

namespace sluice::test {

/// Builds an http consumer from JSON options (durations as integer ns,
/// sizes as integer bytes, as the config loader stores them).
/// Thread safety: single-threaded test code.
class http_harness {
 public:
  explicit http_harness(boost::json::object opts = {}, unsigned threads = 2) : threads_(threads) {
    register_http_stages(reg_);
    const stage_info* info = reg_.find(stage_kind::consumer, "http");
    REQUIRE(info != nullptr);
    stage_context ctx;
    ctx.name = "consumers (http)";
    ctx.type = "http";
    ctx.opts = options(std::move(opts), "consumers");
    ctx.executor = ioc_.get_executor();
    ctx.temp_dir = spill_dir_.path();
    consumer_ = info->make_consumer(ctx);
    REQUIRE(consumer_ != nullptr);
  }

  consumer& get() { return *consumer_; }

  /// Fetches every URL with `workers` concurrent workers; results in input
  /// order. Fails the test when not done within `deadline`.
  std::vector<result> run(const std::vector<std::string>& urls, unsigned workers = 1,
                          std::chrono::seconds deadline = std::chrono::seconds(30)) {
    namespace net = boost::asio;
    std::vector<result> out(urls.size());
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::string failure;
    for (unsigned w = 0; w < workers; ++w) {
      auto strand = net::make_strand(ioc_);
      worker_info wi{w, strand};
      net::co_spawn(
          strand,
          [&, wi]() -> net::awaitable<void> {
            for (;;) {
              std::size_t i = next.fetch_add(1);
              if (i >= urls.size()) {
                break;
              }
              item it;
              it.url = urls[i];
              it.index = i;
              it.enqueued_at = clock::now();
              out[i] = co_await consumer_->process(std::move(it), wi);
            }
          },
          [&](std::exception_ptr e) {
            if (e) {
              failed = true;
              try {
                std::rethrow_exception(e);
              } catch (const std::exception& x) {
                failure = x.what();
              }
            }
          });
    }
    bool finished = run_until(ioc_, deadline, threads_);
    REQUIRE_MESSAGE(finished, "fetching did not finish within the deadline");
    REQUIRE_MESSAGE(!failed, "process threw: " << failure);
    return out;
  }

  result fetch(const std::string& url, std::chrono::seconds deadline = std::chrono::seconds(30)) {
    return run({url}, 1, deadline).front();
  }

 private:
  unsigned threads_;
  temp_dir spill_dir_{"sluice-http-spill"};  // bodies over memory_body; outlives consumer_
  registry reg_;
  boost::asio::io_context ioc_;
  std::unique_ptr<consumer> consumer_;
};

/// Nanoseconds of a chrono duration, as the config loader stores durations.
template <class D>
std::int64_t ns(D d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace sluice::test
