// The example plugin (examples/plugin), built in-tree from the same sources as
// the out-of-tree build, loaded through the loader and driven as the runtime
// drives stages: the sitemap producer (streaming, filters, pacing by a timer
// on the host's executor, errors) and the host_counts sink.
#include "sluice/plugin/plugin.hpp"

#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>

#include "sluice/core/error.hpp"
#include "test_support.hpp"

namespace net = boost::asio;

namespace {

const std::string fixtures = std::string(SLUICE_PLUGIN_TEST_SOURCE_DIR) + "/fixtures";

sluice::registry& example_registry() {
  static sluice::registry reg;
  static const auto loaded = sluice::load_plugin(reg, SLUICE_PLUGIN_EXAMPLE);
  REQUIRE_MESSAGE(loaded.ok(), loaded.error);
  return reg;
}

sluice::stage_context make_ctx(net::any_io_executor ex, const char* type,
                               boost::json::object values) {
  sluice::stage_context ctx;
  ctx.name = std::string("test (") + type + ")";
  ctx.type = type;
  ctx.opts = sluice::options(std::move(values), "test");
  ctx.executor = std::move(ex);
  ctx.base_dir = fixtures;
  return ctx;
}

/// Runs a sitemap producer to the end; returns the URLs (or rethrows).
std::vector<std::string> run_sitemap(boost::json::object values, bool* waited = nullptr) {
  net::io_context ioc;
  const net::any_io_executor strand = net::make_strand(ioc);
  const auto* info = example_registry().find(sluice::stage_kind::producer, "sitemap");
  REQUIRE(info != nullptr);
  values.emplace("limit", 0);
  values.emplace("rate", 0.0);
  auto producer = info->make_producer(make_ctx(strand, "sitemap", std::move(values)));
  std::vector<sluice::item> out;
  bool done = false;
  std::exception_ptr error;
  net::co_spawn(
      strand,
      [&]() -> net::awaitable<void> {
        for (;;) {
          const bool more = co_await producer->next(out, 4);
          if (!more) {
            break;
          }
        }
      },
      [&](std::exception_ptr e) {
        error = e;
        done = true;
      });
  // poll() runs everything that is ready now; a producer that paces itself is
  // still waiting on its timer afterwards.
  ioc.poll();
  if (waited != nullptr) {
    *waited = !done;
  }
  REQUIRE(sluice::test::run_until(ioc, std::chrono::seconds(30)));
  REQUIRE(done);
  if (error) {
    std::rethrow_exception(error);
  }
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < out.size(); ++i) {
    CHECK(out[i].index == i);
    urls.push_back(out[i].url);
  }
  return urls;
}

std::string what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  }
}

// What running the sitemap producer with `values` throws; fails the test
// when it does not throw.
std::string failure_of(boost::json::object values) {
  std::exception_ptr e;
  try {
    run_sitemap(std::move(values));
  } catch (...) {
    e = std::current_exception();
  }
  REQUIRE(e);
  return what_of(e);
}

}  // namespace

TEST_CASE("plugin.example.registers_sitemap_and_host_counts") {
  auto& reg = example_registry();
  const auto* sitemap = reg.find(sluice::stage_kind::producer, "sitemap");
  const auto* sink = reg.find(sluice::stage_kind::sink, "host_counts");
  REQUIRE(sitemap != nullptr);
  REQUIRE(sink != nullptr);
  CHECK(sitemap->origin == std::filesystem::canonical(SLUICE_PLUGIN_EXAMPLE).string());
  std::vector<std::string> names;
  for (const auto& o : sitemap->schema) {
    names.push_back(o.name);
  }
  CHECK(names == std::vector<std::string>{"file", "limit", "changed_since", "rate"});
  CHECK(sitemap->schema[0].required);
}

TEST_CASE("plugin.example.sitemap.streams_loc_entries") {
  const std::vector<std::string> all = {
      "https://www.example.com/",
      "https://www.example.com/about",
      "https://www.example.com/blog/post?id=7&lang=en",
      "https://docs.example.org/start",
      "https://docs.example.org/api",
      "https://cdn.example.net/img/logo.png",
  };
  SUBCASE("every valid <loc>, entity decoded and trimmed; invalid ones skipped") {
    CHECK(run_sitemap({{"file", "sitemap.xml"}}) == all);
  }
  SUBCASE("limit") {
    CHECK(run_sitemap({{"file", "sitemap.xml"}, {"limit", 2}}) ==
          std::vector<std::string>(all.begin(), all.begin() + 2));
  }
  SUBCASE("changed_since keeps entries with a lastmod on or after the date") {
    CHECK(run_sitemap({{"file", "sitemap.xml"}, {"changed_since", "2024-01-01"}}) ==
          std::vector<std::string>{all[0], all[2], all[3]});
  }
}

TEST_CASE("plugin.example.sitemap.rate_waits_on_a_timer_on_the_host_executor") {
  bool waited = false;
  const auto urls = run_sitemap({{"file", "sitemap.xml"}, {"rate", 10.0}, {"limit", 3}}, &waited);
  CHECK(urls.size() == 3);
  // After poll() the producer had not finished: it was suspended on its
  // steady_timer, which only the host's io_context could complete.
  CHECK(waited);

  bool unpaced_waited = true;
  run_sitemap({{"file", "sitemap.xml"}, {"limit", 3}}, &unpaced_waited);
  CHECK_FALSE(unpaced_waited);
}

TEST_CASE("plugin.example.sitemap.errors") {
  SUBCASE("a missing file is a config error on `file`") {
    try {
      run_sitemap({{"file", "no_such_sitemap.xml"}});
      FAIL("expected a config_error");
    } catch (const sluice::config_error& e) {
      CHECK(e.option() == "file");
      CHECK(std::string(e.what()).find("cannot open sitemap") != std::string::npos);
    }
  }
  SUBCASE("a sitemap index is refused with a hint") {
    CHECK(failure_of({{"file", "sitemap_index.xml"}}).find("it is a sitemap index") !=
          std::string::npos);
  }
  SUBCASE("malformed XML names the file and line") {
    const auto what = failure_of({{"file", "sitemap_broken.xml"}});
    CHECK_MESSAGE(what.find("sitemap_broken.xml:5:") != std::string::npos, what);
  }
}

TEST_CASE("plugin.example.host_counts.writes_per_host_csv") {
  const sluice::test::temp_dir dir("sluice-host-counts");
  const auto csv = dir / "counts.csv";
  net::io_context ioc;
  const net::any_io_executor strand = net::make_strand(ioc);
  const auto* info = example_registry().find(sluice::stage_kind::sink, "host_counts");
  REQUIRE(info != nullptr);
  auto sink = info->make_sink(
      make_ctx(strand, "host_counts", {{"file", csv.string()}, {"flush_interval", 0}}));

  auto make = [](std::string url, std::uint64_t bytes, std::string error) {
    auto r = std::make_shared<sluice::result>();
    r->url = std::move(url);
    r->bytes = bytes;
    r->error_kind = std::move(error);
    return sluice::result_ptr(r);
  };
  const std::vector<sluice::result_ptr> batch1 = {make("https://WWW.Example.com/a", 100, ""),
                                                  make("https://docs.example.org/x", 7, ""),
                                                  make("https://www.example.com/b", 0, "timeout")};
  const std::vector<sluice::result_ptr> batch2 = {make("https://www.example.com/c", 0, "connect"),
                                                  make("https://www.example.com/d", 0, "timeout"),
                                                  make("::not a url::", 0, "bad_url")};
  bool done = false;
  std::exception_ptr error;
  net::co_spawn(
      strand,
      [&]() -> net::awaitable<void> {
        co_await sink->write(batch1);
        co_await sink->write(batch2);
        co_await sink->close();
      },
      [&](std::exception_ptr e) {
        error = e;
        done = true;
      });
  REQUIRE(sluice::test::run_until(ioc, std::chrono::seconds(30)));
  REQUIRE(done);
  REQUIRE_FALSE(error);
  std::ifstream in(csv);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() ==
        "host,results,ok,failed,bytes,top_error\n"
        "(invalid),1,0,1,0,bad_url\n"
        "docs.example.org,1,1,0,7,\n"
        "www.example.com,4,1,3,100,timeout\n");
}
