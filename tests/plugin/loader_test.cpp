// The plugin loader, driven directly: every load error, the all-or-nothing
// registration, and a plugin stage waiting on a timer on the host's executor.
#include "sluice/plugin/plugin.hpp"

#include <chrono>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/system/system_error.hpp>

#include "broken_plugins.hpp"
#include "test_support.hpp"

namespace net = boost::asio;

namespace {

std::size_t count_all(const sluice::registry& reg) {
  return reg.all().size();
}

/// A registry holding one pre-existing consumer named `sleep` (as the
/// built-ins do), so the clash plugin has something to clash with.
class noop_consumer final : public sluice::consumer {
 public:
  net::awaitable<sluice::result> process(sluice::item it, sluice::worker_info) override {
    sluice::result r;
    r.url = it.url;
    co_return r;
  }
};

void add_host_sleep(sluice::registry& reg) {
  reg.add(sluice::stage_entry<noop_consumer>("sleep", ""));
}

std::string fixture(const char* name) {
  return std::string(SLUICE_PLUGIN_TEST_SOURCE_DIR) + "/fixtures/" + name;
}

}  // namespace

TEST_CASE("plugin.abi_tag.names_compiler_boost_and_sluice") {
  const std::string tag = sluice::host_abi_tag();
  CHECK(tag == SLUICE_PLUGIN_ABI_TAG);
  CHECK(tag.find("boost-" + std::to_string(BOOST_VERSION)) != std::string::npos);
  CHECK(tag.find(std::string("sluice-") + SLUICE_VERSION) != std::string::npos);
#if defined(__GNUC__) && !defined(__clang__)
  CHECK(tag.rfind("gcc-" + std::to_string(__GNUC__) + ".", 0) == 0);
#endif
}

TEST_CASE("plugin.load.registers_stages_with_origin") {
  sluice::registry reg;
  const auto r = sluice::load_plugin(reg, SLUICE_PLUGIN_GOOD);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.name == "good");
  CHECK(r.version == "1.2.3");
  CHECK_FALSE(r.already_loaded);
  CHECK(r.stages == std::vector<std::string>{"producer ticker", "sink tally"});
  const auto* ticker = reg.find(sluice::stage_kind::producer, "ticker");
  REQUIRE(ticker != nullptr);
  CHECK(ticker->origin == std::filesystem::canonical(SLUICE_PLUGIN_GOOD).string());
  REQUIRE(ticker->schema.size() == 2);
  CHECK(ticker->schema[0].name == "count");
  CHECK(ticker->schema[1].type == sluice::option_type::duration);
  CHECK(reg.find(sluice::stage_kind::sink, "tally") != nullptr);

  SUBCASE("loading the same file again is a no-op") {
    const auto again = sluice::load_plugin(reg, SLUICE_PLUGIN_GOOD);
    REQUIRE_MESSAGE(again.ok(), again.error);
    CHECK(again.already_loaded);
    CHECK(count_all(reg) == 2);
  }
}

TEST_CASE("plugin.load.errors") {
  sluice::registry reg;
  add_host_sleep(reg);
  std::string path;
  std::string expected;

  SUBCASE("file missing") {
    path = fixture("no_such_plugin.so");
    expected = "plugin file not found: " + path;
  }
  SUBCASE("not a shared library") {
    path = fixture("not_a_library.so");
    expected =
        "not a shared library: " + std::filesystem::canonical(path).string() + " (no ELF header)";
  }
  SUBCASE("a directory") {
    path = fixture("");
    expected = "plugin path is a directory, not a shared library: " + path;
  }
  for (const auto& b : sluice::test::broken_plugins()) {
    SUBCASE(b.breaks.c_str()) {
      path = b.path;
      expected = b.message;
    }
  }

  CAPTURE(path);
  const auto r = sluice::load_plugin(reg, path);
  CHECK_FALSE(r.ok());
  CHECK_MESSAGE(r.error.find(expected) != std::string::npos, r.error);
  CHECK(r.stages.empty());
  // All or nothing: the registry holds exactly the pre-existing entry.
  CHECK(count_all(reg) == 1);
  CHECK(reg.find(sluice::stage_kind::consumer, "clash_probe") == nullptr);
  CHECK(reg.find(sluice::stage_kind::sink, "throws_probe") == nullptr);
}

TEST_CASE("plugin.load.failed_load_leaves_room_for_a_good_one") {
  sluice::registry reg;
  add_host_sleep(reg);
  CHECK_FALSE(sluice::load_plugin(reg, SLUICE_PLUGIN_CLASH).ok());
  const auto r = sluice::load_plugin(reg, SLUICE_PLUGIN_GOOD);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(count_all(reg) == 3);
}

namespace {

/// The plugin's `ticker` producer and what it emitted.
struct ticker_run {
  std::unique_ptr<sluice::producer> producer;
  std::vector<sluice::item> out;
  bool done = false;
  std::exception_ptr error;
};

std::unique_ptr<sluice::producer> make_ticker(const sluice::registry& reg,
                                              net::any_io_executor executor, std::int64_t count,
                                              std::chrono::nanoseconds interval) {
  const auto* info = reg.find(sluice::stage_kind::producer, "ticker");
  REQUIRE(info != nullptr);
  sluice::stage_context ctx;
  ctx.name = "producers[0] (ticker)";
  ctx.type = "ticker";
  boost::json::object values;
  values["count"] = count;
  values["interval"] = interval.count();
  ctx.opts = sluice::options(std::move(values), "producers[0]");
  ctx.executor = std::move(executor);
  return info->make_producer(ctx);
}

net::awaitable<void> drain(sluice::producer* p, std::vector<sluice::item>* out) {
  // Not `while (co_await ...)`: g++ 12 miscompiles an await in a loop condition.
  for (;;) {
    const bool more = co_await p->next(*out, 16);
    if (!more) {
      break;
    }
  }
  co_return;
}

}  // namespace

TEST_CASE("plugin.stage.waits_on_a_timer_on_the_host_executor") {
  sluice::registry reg;
  const auto r = sluice::load_plugin(reg, SLUICE_PLUGIN_GOOD);
  REQUIRE_MESSAGE(r.ok(), r.error);
  net::io_context ioc;

  SUBCASE("suspends until the host's timer fires, resumes on its strand") {
    // As the runtime does: the stage's executor is a strand of the host's
    // io_context and the stage's loop runs on it.
    const net::any_io_executor strand = net::make_strand(ioc);
    ticker_run run;
    run.producer = make_ticker(reg, strand, 3, std::chrono::milliseconds(2));
    net::co_spawn(strand, drain(run.producer.get(), &run.out), [&](std::exception_ptr e) {
      run.error = e;
      run.done = true;
    });
    REQUIRE(sluice::test::run_until(ioc, std::chrono::seconds(30)));
    REQUIRE(run.done);
    CHECK_FALSE(run.error);
    REQUIRE(run.out.size() == 3);
    for (std::size_t i = 0; i < run.out.size(); ++i) {
      // on_strand=1: the timer completed through the host's io_context and
      // the plugin's coroutine resumed inside the strand the host gave it.
      CHECK(run.out[i].url == "tick://" + std::to_string(i) + "?on_strand=1");
    }
  }

  SUBCASE("the wait is pending in the host's io_context and the host can cancel it") {
    ticker_run run;
    run.producer = make_ticker(reg, ioc.get_executor(), 1, std::chrono::hours(1));
    net::cancellation_signal cancel;
    net::co_spawn(ioc, drain(run.producer.get(), &run.out),
                  net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                    run.error = e;
                    run.done = true;
                  }));
    ioc.poll();
    // The only pending work of the host's io_context is the plugin's timer.
    CHECK_FALSE(run.done);
    CHECK_FALSE(ioc.stopped());
    cancel.emit(net::cancellation_type::terminal);
    REQUIRE(sluice::test::run_until(ioc, std::chrono::seconds(30)));
    REQUIRE(run.done);
    REQUIRE(run.error);
    CHECK(run.out.empty());
    try {
      std::rethrow_exception(run.error);
    } catch (const boost::system::system_error& e) {
      CHECK(e.code() == net::error::operation_aborted);
    }
  }
}

TEST_CASE("plugin.load.the_documentation_example") {
  sluice::registry reg;
  const auto r = sluice::load_plugin(reg, SLUICE_PLUGIN_DOC_EXAMPLE);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.name == "my_stages");
  CHECK(r.stages == std::vector<std::string>{"producer countdown"});

  net::io_context ioc;
  const net::any_io_executor strand = net::make_strand(ioc);
  sluice::stage_context ctx;
  ctx.name = "producers[0] (countdown)";
  ctx.type = "countdown";
  boost::json::object values;
  values["from"] = 2;
  ctx.opts = sluice::options(std::move(values), "producers[0]");
  ctx.executor = strand;
  auto p = reg.find(sluice::stage_kind::producer, "countdown")->make_producer(ctx);
  std::vector<sluice::item> out;
  bool done = false;
  net::co_spawn(strand, drain(p.get(), &out), [&](std::exception_ptr e) {
    CHECK_FALSE(e);
    done = true;
  });
  REQUIRE(sluice::test::run_until(ioc, std::chrono::seconds(30)));
  REQUIRE(done);
  REQUIRE(out.size() == 2);
  CHECK(out[0].url == "https://example.com/2");
  CHECK(out[1].url == "https://example.com/1");
}
