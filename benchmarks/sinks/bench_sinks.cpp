// Sink throughput: how many results a second each sink stores, on real files
// in a scratch directory, with batches of 256 results as the runtime delivers
// them. Usage: bench_sinks [results] [body bytes] [dir]
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "sinks.hpp"

using namespace sluice;
namespace fs = std::filesystem;
namespace net = boost::asio;

namespace {

double run(const char* name, std::unique_ptr<sink> (*make)(const stage_context&, const fs::path&),
           const fs::path& dir, std::size_t n, std::size_t body) {
  net::io_context io;
  stage_context ctx;
  ctx.name = name;
  ctx.executor = net::make_strand(io);
  ctx.log_sink = [](log_level, std::string_view s) { fmt::print(stderr, "{}\n", s); };
  std::vector<std::vector<result_ptr>> batches;
  for (std::size_t i = 0; i < n;) {
    std::vector<result_ptr> b;
    for (std::size_t k = 0; k < 256 && i < n; ++k, ++i) {
      auto r = std::make_shared<result>();
      r->url = fmt::format("http://127.0.0.1:8080/bench/{}", i);
      r->status = 200;
      r->attempts = 1;
      r->body.assign(body, 'x');
      r->bytes = body;
      r->time.total = std::chrono::microseconds(1234);
      b.push_back(std::move(r));
    }
    batches.push_back(std::move(b));
  }
  auto s = make(ctx, dir);
  auto t0 = std::chrono::steady_clock::now();
  net::co_spawn(
      ctx.executor,
      [&]() -> net::awaitable<void> {
        for (const auto& b : batches) {
          co_await s->write(b);
        }
        co_await s->close();
      },
      [](std::exception_ptr e) {
        if (e) {
          std::rethrow_exception(e);
        }
      });
  io.run();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double rate = static_cast<double>(n) / secs;
  fmt::print("{:<8} {:>9} results  {:>8.3f} s  {:>12.0f} results/s\n", name, n, secs, rate);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  std::size_t body = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 100;
  fs::path dir = argc > 3 ? fs::path(argv[3]) : fs::temp_directory_path() / "sluice-bench-sinks";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fmt::print("sink throughput: {} results with {}-byte bodies, batches of 256, in {}\n", n, body,
             dir.string());
  run(
      "jsonl",
      [](const stage_context& c, const fs::path& d) {
        return stages::sinks::make_jsonl_sink(c, {.path = d / "out.jsonl"});
      },
      dir, n, body);
  run(
      "csv",
      [](const stage_context& c, const fs::path& d) {
        return stages::sinks::make_csv_sink(c, {.path = d / "out.csv"});
      },
      dir, n, body);
  run(
      "sqlite",
      [](const stage_context& c, const fs::path& d) {
        return stages::sinks::make_sqlite_sink(c, {.path = d / "out.db"});
      },
      dir, n, body);
  run(
      "files",
      [](const stage_context& c, const fs::path& d) {
        return stages::sinks::make_files_sink(c, {.store = {.dir = d / "bodies"}});
      },
      dir, std::min<std::size_t>(n, 50000), body);
  fs::remove_all(dir);
  return 0;
}
