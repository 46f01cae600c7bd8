// Runtime lifecycle: every item consumed once, join-then-cancel ordering,
// stage failures (producer, consumer, sink) stop gracefully with exit 1,
// factory config errors exit 2, the queue bound holds.
#include "sluice/runtime/runtime.hpp"

#include <doctest/doctest.h>

#include <mutex>
#include <set>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sluice/core/error.hpp"
#include "sluice/runtime/progress.hpp"
#include "sluice/stages/builtin.hpp"
#include "test_support.hpp"

using namespace sluice;

namespace {

/// Shared observations of the test stages (one run at a time).
struct observations {
  std::mutex m;
  std::vector<std::uint64_t> indices;  // what the collecting sink received
  std::vector<std::string> events;     // consumer finish / close order
  bool consumer_closed_after_all = false;
  std::uint64_t finished = 0;
  std::set<bool> keep_bodies;  // worker_info::keep_bodies as the consumer saw it
};
observations obs;

class collect_sink final : public sink {
 public:
  boost::asio::awaitable<void> write(const std::vector<result_ptr>& batch) override {
    std::lock_guard lock(obs.m);
    for (const auto& r : batch) {
      obs.indices.push_back(r->index);
    }
    co_return;
  }
};

class failing_sink final : public sink {
 public:
  boost::asio::awaitable<void> write(const std::vector<result_ptr>&) override {
    throw std::runtime_error("disk on fire");
    co_return;
  }
};

// Sleeps 0-2 ms per item; throws on item `throw_at` when set.
class test_consumer final : public consumer {
 public:
  explicit test_consumer(const stage_context& ctx) : throw_at_(ctx.opts.get_int("throw_at")) {}
  boost::asio::awaitable<result> process(item it, worker_info w) override {
    if (static_cast<std::int64_t>(it.index) == throw_at_) {
      throw std::logic_error("bug in consumer");
    }
    boost::asio::steady_timer t(w.executor, std::chrono::microseconds(it.index % 3 * 500));
    co_await t.async_wait(boost::asio::use_awaitable);
    {
      std::lock_guard lock(obs.m);
      ++obs.finished;
      obs.keep_bodies.insert(w.keep_bodies);
    }
    result r;
    r.url = it.url;
    co_return r;
  }
  boost::asio::awaitable<void> close() override {
    std::lock_guard lock(obs.m);
    obs.events.push_back("close after " + std::to_string(obs.finished));
    co_return;
  }

 private:
  std::int64_t throw_at_;
};

class throwing_producer final : public producer {
 public:
  boost::asio::awaitable<bool> next(std::vector<item>& out, std::size_t) override {
    if (calls_++ == 3) {
      throw std::runtime_error("source exploded");
    }
    out.push_back(item{"x", calls_});
    co_return true;
  }

 private:
  std::uint64_t calls_ = 0;
};

struct fixture {
  registry reg;
  fixture() {
    register_builtin_stages(reg);
    reg.add({.kind = stage_kind::sink, .name = "collect", .make_sink = [](const stage_context&) {
               return std::make_unique<collect_sink>();
             }});
    reg.add({.kind = stage_kind::sink, .name = "failing", .make_sink = [](const stage_context&) {
               return std::make_unique<failing_sink>();
             }});
    reg.add({.kind = stage_kind::consumer,
             .name = "test",
             .schema = {{.name = "throw_at", .type = option_type::integer, .default_value = "-1"}},
             .make_consumer = [](const stage_context& c) {
               return std::make_unique<test_consumer>(c);
             }});
    reg.add({.kind = stage_kind::producer,
             .name = "throwing",
             .make_producer = [](const stage_context&) {
               return std::make_unique<throwing_producer>();
             }});
    reg.add({.kind = stage_kind::producer,
             .name = "picky",
             .schema = {{.name = "mode", .default_value = "ok"}},
             .make_producer = [](const stage_context& c) -> std::unique_ptr<producer> {
               throw config_error("mode",
                                  "mode '" + c.opts.get_string("mode") + "' is not supported");
             }});
    obs.indices.clear();
    obs.events.clear();
    obs.finished = 0;
    obs.keep_bodies.clear();
  }

  run_report run(const std::string& text, run_options o = {}) {
    auto r = load_pipeline_text(text, "t.yaml", reg, {});
    for (const auto& d : r.diagnostics) {
      FAIL_CHECK(format_diagnostic(d));
    }
    REQUIRE(r.config);
    o.handle_signals = false;
    return run_pipeline(*r.config, o);
  }
};

}  // namespace

TEST_CASE("runtime.run.every_item_exactly_once") {
  fixture f;
  auto rep = f.run(R"(threads: 2
producers:
  - {type: range, url: "u{i}", from: 0, to: 30000}
  - {type: range, url: "v{i}", from: 30000, to: 50000}
queue: {capacity: 64}
consumers: {type: sleep, workers: 50}
sinks: [{type: collect}, {type: "null"}]
)");
  CHECK(rep.exit_code == 0);
  CHECK(rep.produced == 50000);
  CHECK(rep.consumed == 50000);
  CHECK(rep.failed == 0);
  CHECK(rep.queue_high_water <= 64);
  CHECK(rep.queue_high_water > 0);
  CHECK(rep.time_in_queue.count == 50000);
  std::set<std::uint64_t> unique(obs.indices.begin(), obs.indices.end());
  CHECK(obs.indices.size() == 50000);
  CHECK(unique.size() == 50000);
  CHECK(*unique.rbegin() == 49999);
}

TEST_CASE("runtime.lifecycle.consumers_end_after_last_item") {
  fixture f;
  auto rep = f.run(R"(threads: 2
producers: [{type: range, url: "u{i}", to: 2000}]
queue: {capacity: 8}
consumers: {type: test, workers: 16}
sinks: [{type: collect}]
)");
  CHECK(rep.exit_code == 0);
  // close() runs once every worker is gone, after the 2000th item finished.
  REQUIRE(obs.events.size() == 1);
  CHECK(obs.events[0] == "close after 2000");
  CHECK(obs.indices.size() == 2000);
}

TEST_CASE("runtime.failure.consumer_throw_stops_with_exit_1") {
  fixture f;
  auto rep = f.run(R"(threads: 2
producers: [{type: range, url: "u{i}", to: 100000}]
queue: {capacity: 16}
consumers: {type: test, workers: 4, throw_at: 50}
sinks: [{type: collect}]
)");
  CHECK(rep.exit_code == 1);
  CHECK(rep.stage_error.find("consumers (test)") != std::string::npos);
  CHECK(rep.stage_error.find("bug in consumer") != std::string::npos);
  CHECK(rep.produced < 100000);  // producers stopped early
  // What workers held finished; what was queued was not started.
  CHECK(rep.consumed + rep.unstarted == rep.produced);
  CHECK(obs.indices.size() == rep.consumed);
  CHECK(rep.errors_by_kind["exception"] == 1);
}

// The progress coroutine used to be spawned detached: its throw vanished and
// the run ended with exit 0 and no progress.
TEST_CASE("runtime.failure.progress_throw_stops_with_exit_1") {
  struct throwing_progress final : progress_reporter {
    void update(const progress_snapshot&) override { throw std::runtime_error("tty gone"); }
    void finish(const progress_snapshot&) override {}
  };
  fixture f;
  run_options o;
  o.progress = true;
  o.progress_factory = [] { return std::make_unique<throwing_progress>(); };
  auto rep = f.run(R"(producers: [{type: range, url: "u{i}", to: 100000000}]
queue: {capacity: 16}
consumers: {type: test, workers: 4}
sinks: [{type: collect}]
)",
                   o);
  CHECK(rep.exit_code == 1);
  CHECK(rep.stage_error == "progress: tty gone");
  CHECK(rep.produced < 100000000);
  CHECK(rep.consumed + rep.unstarted == rep.produced);
}

TEST_CASE("runtime.failure.producer_throw_stops_with_exit_1") {
  fixture f;
  auto rep = f.run(R"(producers: [{type: throwing}]
consumers: {type: sleep, workers: 2}
sinks: [{type: collect}]
)");
  CHECK(rep.exit_code == 1);
  CHECK(rep.stage_error.find("producers[0] (throwing)") != std::string::npos);
  CHECK(rep.stage_error.find("source exploded") != std::string::npos);
  CHECK(rep.consumed == 3);
}

TEST_CASE("runtime.failure.sink_throw_stops_others_still_flush") {
  fixture f;
  auto rep = f.run(R"(producers: [{type: range, url: "u{i}", to: 5000}]
queue: {capacity: 16}
consumers: {type: sleep, workers: 4}
sinks: [{type: failing}, {type: collect}]
)");
  CHECK(rep.exit_code == 1);
  CHECK(rep.stage_error.find("sinks[0] (failing): disk on fire") != std::string::npos);
  CHECK(obs.indices.size() == rep.consumed);
}

TEST_CASE("runtime.config_error_from_factory_exits_2_at_option") {
  fixture f;
  auto rep = f.run(R"(producers:
  - type: picky
    mode: weird
consumers: {type: sleep}
sinks: [{type: collect}]
)");
  CHECK(rep.exit_code == 2);
  CHECK(rep.stage_error.find("t.yaml:3:5: error: mode 'weird' is not supported") !=
        std::string::npos);
}

TEST_CASE("runtime.bodies.kept_only_when_a_sink_reads_them") {
  sluice::test::temp_dir tmp;
  auto run_with = [&](const std::string& sinks) {
    fixture f;
    auto rep = f.run(
        "producers: [{type: range, url: \"u{i}\", to: 20}]\n"
        "consumers: {type: test, workers: 4}\n"
        "sinks: " +
        sinks + "\n");
    CHECK(rep.exit_code == 0);
    return obs.keep_bodies;
  };
  auto jsonl = (tmp / "r.jsonl").string();
  auto sq = (tmp / "r.db").string();
  // null, csv and jsonl without bodies never read one: consumers may drop them.
  CHECK(run_with("[{type: \"null\"}]") == std::set<bool>{false});
  CHECK(run_with("[{type: \"null\"}, {type: jsonl, path: \"" + jsonl + "\"}]") ==
        std::set<bool>{false});
  CHECK(run_with("[{type: sqlite, path: \"" + sq + "\", body: false}]") == std::set<bool>{false});
  // One sink that reads bodies is enough; a sink that does not say reads them.
  CHECK(run_with("[{type: \"null\"}, {type: jsonl, path: \"" + jsonl + "\", body: true}]") ==
        std::set<bool>{true});
  CHECK(run_with("[{type: sqlite, path: \"" + sq + "\"}]") == std::set<bool>{true});
  CHECK(run_with("[{type: collect}]") == std::set<bool>{true});
}
