// `sluice plan`: origins (Boost.URL normalisation), the bounded per-origin
// counter and its Space-Saving summary, drain_producers, the forecast's
// arithmetic, and the program end to end: 1,000,000 URLs over 1,000 hosts
// counted exactly in at most 32 MiB, and the hostile inputs.
#include "sluice/runtime/drain.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>

#include <boost/json.hpp>

#include "plan_origins.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/builtin.hpp"
#include "test_support.hpp"

using namespace sluice;
using namespace sluice::test;
namespace json = boost::json;

namespace {

std::string origin_of(std::string_view url) {
  cli::origin_parser p;
  auto why = p.parse(url);
  return why.empty() ? p.key() : "invalid: " + why;
}

// A pipeline with the given producers and consumer lines, and a null sink.
std::string pipeline(const std::string& producers, const std::string& consumer) {
  return "name: plan-test\nproducers:\n" + producers + "consumers:\n" + consumer +
         "sinks:\n  - type: null\n";
}

process_result plan(const std::filesystem::path& file, std::vector<std::string> extra = {},
                    process_options o = {}) {
  std::vector<std::string> argv{sluice_bin(), "plan", file.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_process(argv, o);
}

json::object plan_json(const std::filesystem::path& file, std::vector<std::string> extra = {},
                       process_options o = {}) {
  extra.push_back("--json");
  auto r = plan(file, extra, o);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).as_object();
}

// origin -> count, from the JSON document's top list.
std::map<std::string, std::uint64_t> top_counts(const json::object& doc) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& e : doc.at("origins").at("top").as_array()) {
    m[std::string(e.at("origin").as_string())] = e.at("urls").to_number<std::uint64_t>();
  }
  return m;
}

}  // namespace

TEST_CASE("plan.origin.normalised_by_boost_url") {
  CHECK(origin_of("http://example.com/a?b#c") == "http://example.com");
  CHECK(origin_of("HTTP://ExAmPle.COM/a") == "http://example.com");
  CHECK(origin_of("http://example.com:80/a") == "http://example.com");
  CHECK(origin_of("http://example.com:/a") == "http://example.com");
  CHECK(origin_of("http://example.com:0080/a") == "http://example.com");
  CHECK(origin_of("https://example.com:443") == "https://example.com");
  CHECK(origin_of("https://example.com:80") == "https://example.com:80");
  CHECK(origin_of("http://example.com:8080") == "http://example.com:8080");
  CHECK(origin_of("http://user:pw@example.com/") == "http://example.com");
  CHECK(origin_of("http://%65xample.com/") == "http://example.com");
  CHECK(origin_of("http://[::1]:80/x") == "http://[::1]");
  CHECK(origin_of("http://[::1]:8080/x") == "http://[::1]:8080");
  CHECK(origin_of("ftp://Files.Example:21/x") == "ftp://files.example");
  // Boost.URL 1.81's port_number() wraps these to 34463 and 0.
  CHECK(origin_of("http://example.com:99999/") == "invalid: port out of range");
  CHECK(origin_of("http://example.com:65536/") == "invalid: port out of range");
  CHECK(origin_of("http://example.com:000000000000000000080/") == "http://example.com");
  CHECK(origin_of("http://example.com:0/") == "http://example.com:0");
  CHECK(origin_of("http:///no-host").rfind("invalid: no host", 0) == 0);
  CHECK(origin_of("mailto:someone@example.com").rfind("invalid: no host", 0) == 0);
  CHECK(origin_of("/relative/path").rfind("invalid: ", 0) == 0);
  CHECK(origin_of("not a url") == "invalid: URL contains whitespace (percent-encode it as %20)");
  CHECK(origin_of("htp//typo.example/x") ==
        "invalid: not an absolute URL (no scheme such as http://)");
  CHECK(origin_of("http://exa mple.com/").rfind("invalid: ", 0) == 0);
  CHECK(origin_of("") == "invalid: empty URL");
}

TEST_CASE("plan.counter.exact_under_the_cap") {
  cli::origin_counter c(10, 4);
  for (int i = 0; i < 5; ++i) {
    for (int k = 0; k <= i; ++k) {
      c.add("o" + std::to_string(i));
    }
  }
  CHECK(c.total() == 15);
  CHECK_FALSE(c.approximate());
  auto top = c.top(2);
  REQUIRE(top.size() == 2);
  CHECK(top[0].origin == "o4");
  CHECK(top[0].count == 5);
  CHECK(top[1].origin == "o3");
  CHECK(top[1].error == 0);
  CHECK(c.top(0).size() == 5);
}

TEST_CASE("plan.counter.space_saving_beyond_the_cap") {
  // 3 exact origins, then heavy hitters among 2,000 one-off origins: the
  // summary of 8 counters must keep the heavy ones with bounded error.
  cli::origin_counter c(3, 8);
  for (const char* o : {"a", "b", "c"}) {
    for (int i = 0; i < 10; ++i) {
      c.add(o);
    }
  }
  std::uint64_t total = 30;
  for (int i = 0; i < 2000; ++i) {
    c.add("noise" + std::to_string(i));
    c.add("heavy1");
    c.add(i % 2 == 0 ? "heavy2" : "noise-b" + std::to_string(i));
    total += 3;
  }
  CHECK(c.total() == total);
  CHECK(c.approximate());
  CHECK(c.summarised() == total - 30);
  CHECK(c.summary_origins() <= 8);
  CHECK(c.exact_origins() == 3);
  auto top = c.top(5);
  REQUIRE(top.size() == 5);
  CHECK(top[0].origin == "heavy1");
  CHECK(top[0].count >= 2000);
  CHECK(top[0].count - top[0].error <= 2000);
  CHECK(top[1].origin == "heavy2");
  CHECK(top[1].count >= 1000);
  CHECK(top[1].count - top[1].error <= 1000);
  // The exact origins keep exact counts, and no summary count is over by
  // more than the largest error.
  for (const auto& e : c.top(0)) {
    if (e.origin.size() == 1) {
      CHECK(e.count == 10);
      CHECK(e.error == 0);
    }
    CHECK(e.error <= c.max_error());
  }
}

TEST_CASE("plan.format_span") {
  CHECK(cli::format_span(0) == "0s");
  CHECK(cli::format_span(-1) == "0s");
  CHECK(cli::format_span(0.35) == "350ms");
  CHECK(cli::format_span(0.0001) == "1ms");
  CHECK(cli::format_span(1.5) == "1.5s");
  CHECK(cli::format_span(12) == "12s");
  CHECK(cli::format_span(59.96) == "1m00s");
  CHECK(cli::format_span(303) == "5m03s");
  CHECK(cli::format_span(20000) == "5h33m20s");
  CHECK(cli::format_span(2 * 86400 + 3 * 3600 + 4 * 60) == "2d03h04m");
}

namespace {

class boom_producer final : public producer {
 public:
  boost::asio::awaitable<bool> next(std::vector<item>& out, std::size_t) override {
    if (calls_++ == 1) {
      throw std::runtime_error("source exploded");
    }
    out.push_back(item{"http://a.example/", 0});
    co_return true;
  }

 private:
  int calls_ = 0;
};

struct drain_fixture {
  registry reg;
  drain_fixture() {
    register_builtin_stages(reg);
    reg.add({.kind = stage_kind::producer, .name = "boom", .make_producer = [](const auto&) {
               return std::make_unique<boom_producer>();
             }});
    reg.add({.kind = stage_kind::producer,
             .name = "picky",
             .schema = {{.name = "mode", .default_value = "ok"}},
             .make_producer = [](const stage_context&) -> std::unique_ptr<producer> {
               throw config_error("mode", "mode is not supported");
             }});
  }
  drain_report drain(const std::string& producers, std::vector<std::string>* urls = nullptr) {
    auto r = load_pipeline_text(pipeline(producers, "  type: sleep\n"), "t.yaml", reg, {});
    for (const auto& d : r.diagnostics) {
      FAIL_CHECK(format_diagnostic(d));
    }
    REQUIRE(r.config);
    return drain_producers(*r.config, [urls](const std::vector<item>& b) {
      for (const auto& it : b) {
        if (urls) {
          urls->push_back(it.url);
        }
      }
    });
  }
};

}  // namespace

TEST_CASE_FIXTURE(drain_fixture, "plan.drain.every_producer_in_order") {
  std::vector<std::string> urls;
  auto rep = drain(
      "  - type: range\n    url: \"http://r/{i}\"\n    to: 600\n"
      "  - type: list\n    urls: [\"http://l/1\", \"http://l/2\"]\n",
      &urls);
  CHECK(rep.exit_code == 0);
  CHECK(rep.items == 602);
  REQUIRE(urls.size() == 602);
  CHECK(urls[0] == "http://r/0");
  CHECK(urls[599] == "http://r/599");
  CHECK(urls[601] == "http://l/2");
}

TEST_CASE_FIXTURE(drain_fixture, "plan.drain.a_throwing_producer_is_exit_1") {
  auto rep = drain("  - type: boom\n");
  CHECK(rep.exit_code == 1);
  CHECK(rep.items == 1);
  CHECK(rep.error.find("source exploded") != std::string::npos);
  CHECK(rep.error.find("boom") != std::string::npos);
}

TEST_CASE_FIXTURE(drain_fixture, "plan.drain.a_factory_config_error_is_a_diagnostic") {
  auto rep = drain("  - type: list\n    urls: [\"http://x/\"]\n  - type: picky\n    mode: odd\n");
  CHECK(rep.exit_code == 2);
  // Before any producer ran, and at the option's line:column.
  CHECK(rep.items == 0);
  INFO(rep.error);
  CHECK(rep.error.find("t.yaml:6:5: error: mode is not supported") != std::string::npos);
}

namespace {

// The acceptance input: 1,000,000 URL lines over 1,000 hosts with a Zipf
// distribution (host h has weight 1/(h+1)), each host written in several
// spellings that must merge (upper case, explicit default port, empty
// port), some on https or a non-default port (their own origins), with
// invalid lines, comments and blank lines mixed in. Returns the expected
// count per origin, computed from what was written, not by parsing it.
struct generated {
  std::map<std::string, std::uint64_t> counts;
  std::uint64_t urls = 0;
  std::uint64_t invalid = 0;
};

generated write_zipf_file(const std::filesystem::path& path, std::uint64_t lines,
                          std::uint32_t hosts) {
  std::vector<double> cdf(hosts);
  double sum = 0;
  for (std::uint32_t h = 0; h < hosts; ++h) {
    sum += 1.0 / (h + 1);
    cdf[h] = sum;
  }
  std::ofstream out(path);
  generated g;
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 11;
  };
  static const char* invalid_lines[] = {
      "not a url",     "http:///no-host",       "http://bad host/x",
      "http://[::1/x", "example.com/no-scheme", "http://h.example:99999/"};
  for (std::uint64_t i = 0; i < lines; ++i) {
    if (i % 100'003 == 7) {
      out << invalid_lines[(i / 100'003) % 6] << '\n';
      ++g.invalid;
      ++g.urls;
      continue;
    }
    if (i % 250'000 == 11) {
      out << "# a comment\n\n";
    }
    const double u = static_cast<double>(next()) / static_cast<double>(1ull << 53) * sum;
    const auto h =
        static_cast<std::uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    const auto host = "host" + std::to_string(std::min(h, hosts - 1)) + ".example";
    std::string upper = host;
    for (auto& c : upper) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    std::string url, origin;
    switch (next() % 8) {
      case 0:
        url = "http://" + upper + "/p/" + std::to_string(i);
        origin = "http://" + host;
        break;
      case 1:
        url = "http://" + host + ":80/p";
        origin = "http://" + host;
        break;
      case 2:
        url = "HTTP://" + host + ":/q?i=" + std::to_string(i);
        origin = "http://" + host;
        break;
      case 3:
        url = "https://" + host + ":443/s";
        origin = "https://" + host;
        break;
      case 4:
        url = "https://" + upper + "/s#f";
        origin = "https://" + host;
        break;
      case 5:
        url = "http://" + host + ":8080/alt";
        origin = "http://" + host + ":8080";
        break;
      default:
        url = "  http://" + host + "/p/" + std::to_string(i) + "  ";
        origin = "http://" + host;
    }
    out << url << '\n';
    ++g.counts[origin];
    ++g.urls;
  }
  return g;
}

}  // namespace

TEST_CASE("plan.cli.million_urls_exact_in_bounded_memory") {
  temp_dir dir("sluice-plan");
  auto g = write_zipf_file(dir / "urls.txt", 1'000'000, 1'000);
  REQUIRE(g.invalid >= 5);
  write_file(dir / "p.yaml",
             pipeline("  - type: file\n    path: urls.txt\n",
                      "  type: http\n  workers: 64\n  per_host: 8\n  rate: 20/s\n"));
  process_options o;
  o.timeout = std::chrono::seconds(120);
  auto r = plan(dir / "p.yaml", {"--json", "--top", "0"}, o);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  MESSAGE("sluice plan on 1,000,000 URLs: peak RSS ", r.max_rss_kb, " KiB");
  CHECK(r.max_rss_kb > 0);
  CHECK(r.max_rss_kb <= 32 * 1024);
  auto doc = json::parse(r.out).as_object();
  CHECK(doc.at("urls").to_number<std::uint64_t>() == g.urls);
  CHECK(doc.at("invalid").to_number<std::uint64_t>() == g.invalid);
  CHECK(doc.at("valid").to_number<std::uint64_t>() == g.urls - g.invalid);
  CHECK(doc.at("invalid_examples").as_array().size() == 3);
  CHECK(doc.at("origins").at("exact").as_bool());
  CHECK(doc.at("origins").at("counted_exactly").to_number<std::size_t>() == g.counts.size());
  auto got = top_counts(doc);
  CHECK(got.size() == g.counts.size());
  std::size_t wrong = 0;
  for (const auto& [origin, n] : g.counts) {
    if (got[origin] != n) {
      if (++wrong <= 5) {
        FAIL_CHECK(origin << ": plan " << got[origin] << ", expected " << n);
      }
    }
  }
  CHECK(wrong == 0);
  // The largest origin is the bottleneck: its rate term beats its per_host
  // term (1/20 s > 200ms / 8) and the workers' total.
  const auto& top = doc.at("origins").at("top").as_array().at(0).as_object();
  const auto largest = top.at("urls").to_number<double>();
  CHECK(top.at("limit").as_string() == "rate 20/s");
  CHECK(top.at("seconds").to_number<double>() == doctest::Approx(largest / 20));
  CHECK(doc.at("forecast").at("bottleneck").at("kind").as_string() == "origin");
  CHECK(doc.at("forecast").at("bottleneck").at("origin") == top.at("origin"));
  CHECK(doc.at("workers_seconds").to_number<double>() ==
        doctest::Approx(static_cast<double>(g.urls - g.invalid) * 0.2 / 64));
}

TEST_CASE("plan.cli.forecast_arithmetic") {
  temp_dir dir("sluice-plan");
  SUBCASE("rate: 40,000 URLs at 2/s is 20,000 s") {
    write_file(dir / "p.yaml",
               pipeline("  - type: range\n    url: \"https://Example.com/{i}\"\n    to: 40000\n",
                        "  type: http\n  workers: 16\n  per_host: 4\n  rate: 2/s\n"));
    auto r = plan(dir / "p.yaml");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    INFO(r.out);
    // rate 40,000 / 2 = 20,000 s; per_host 40,000 x 0.2 / 4 = 2,000 s;
    // workers 40,000 x 0.2 / 16 = 500 s.
    CHECK(r.out.find("https://example.com: 40,000 URLs at rate 2/s -> 5h33m20s (the bottleneck)") !=
          std::string::npos);
    CHECK(r.out.find("workers: 40,000 URLs x 200ms / 16 workers -> 8m20s\n") != std::string::npos);
    CHECK(r.out.find("total: 40,000 URLs -> 5h33m20s; the bottleneck: origin https://example.com "
                     "(rate 2/s)") != std::string::npos);
    auto doc = plan_json(dir / "p.yaml");
    CHECK(doc.at("forecast").at("seconds").to_number<double>() == doctest::Approx(20000));
    CHECK(doc.at("forecast").at("duration").as_string() == "5h33m20s");
    CHECK(doc.at("forecast").at("bottleneck").at("kind").as_string() == "origin");
    CHECK(doc.at("forecast").at("bottleneck").at("origin").as_string() == "https://example.com");
    CHECK(doc.at("workers_seconds").to_number<double>() == doctest::Approx(500));
    CHECK(doc.at("consumer").at("rate_per_s").to_number<double>() == doctest::Approx(2));
    CHECK(doc.at("consumer").at("per_host").to_number<int>() == 4);
  }
  SUBCASE("per_host: 100 URLs x 1s / 2 is 50 s") {
    write_file(dir / "p.yaml",
               pipeline("  - type: range\n    url: \"http://a.example/{i}\"\n    to: 100\n"
                        "  - type: range\n    url: \"http://b.example:80/{i}\"\n    to: 50\n",
                        "  type: http\n  workers: 8\n  per_host: 2\n"));
    auto doc = plan_json(dir / "p.yaml", {"--latency", "1s"});
    const auto& top = doc.at("origins").at("top").as_array();
    REQUIRE(top.size() == 2);
    CHECK(top[0].at("origin").as_string() == "http://a.example");
    CHECK(top[0].at("seconds").to_number<double>() == doctest::Approx(50));
    CHECK(top[0].at("limit").as_string() == "per_host 2");
    CHECK(top[1].at("origin").as_string() == "http://b.example");
    CHECK(top[1].at("seconds").to_number<double>() == doctest::Approx(25));
    // workers: 150 x 1 / 8 = 18.75 s < 50 s.
    CHECK(doc.at("workers_seconds").to_number<double>() == doctest::Approx(18.75));
    CHECK(doc.at("forecast").at("seconds").to_number<double>() == doctest::Approx(50));
    CHECK(doc.at("forecast").at("bottleneck").at("limit").as_string() == "per_host 2");
  }
  SUBCASE("workers: 3 origins x 10 URLs x 100ms / 2 workers is 1.5 s") {
    write_file(dir / "p.yaml",
               pipeline("  - type: range\n    url: \"http://a.example/{i}\"\n    to: 10\n"
                        "  - type: range\n    url: \"http://b.example/{i}\"\n    to: 10\n"
                        "  - type: range\n    url: \"http://c.example/{i}\"\n    to: 10\n",
                        "  type: http\n  workers: 2\n"));
    auto r = plan(dir / "p.yaml", {"--latency", "100ms"});
    REQUIRE(r.exit_code == 0);
    INFO(r.out);
    CHECK(r.out.find("total: 30 URLs -> 1.5s; the bottleneck: workers 2") != std::string::npos);
    CHECK(r.out.find("per_host unlimited, no rate") != std::string::npos);
    auto doc = plan_json(dir / "p.yaml", {"--latency", "100ms", "--top", "2"});
    CHECK(doc.at("forecast").at("seconds").to_number<double>() == doctest::Approx(1.5));
    CHECK(doc.at("forecast").at("bottleneck").at("kind").as_string() == "workers");
    CHECK(doc.at("origins").at("top").as_array().size() == 2);
  }
  SUBCASE("--set changes the limits as it would for a run") {
    write_file(dir / "p.yaml",
               pipeline("  - type: range\n    url: \"http://a.example/{i}\"\n    to: 600\n",
                        "  type: http\n  workers: 100\n"));
    auto doc = plan_json(dir / "p.yaml", {"--set", "consumers.rate=10/m"});
    // 600 URLs at 1/6 per second: 3,600 s.
    CHECK(doc.at("forecast").at("seconds").to_number<double>() == doctest::Approx(3600));
    CHECK(doc.at("forecast").at("duration").as_string() == "1h00m00s");
  }
}

TEST_CASE("plan.cli.hostile_inputs") {
  temp_dir dir("sluice-plan");
  const std::string http = "  type: http\n  workers: 4\n  per_host: 2\n  rate: 1/s\n";
  SUBCASE("an empty producer") {
    write_file(dir / "empty.txt", "");
    write_file(dir / "p.yaml", pipeline("  - type: file\n    path: empty.txt\n", http));
    auto r = plan(dir / "p.yaml");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("0 URLs, 0 origins, 0 invalid") != std::string::npos);
    CHECK(r.out.find("total: 0 URLs -> 0s; the bottleneck: none") != std::string::npos);
    auto doc = plan_json(dir / "p.yaml");
    CHECK(doc.at("urls").to_number<int>() == 0);
    CHECK(doc.at("origins").at("top").as_array().empty());
    CHECK(doc.at("forecast").at("bottleneck").at("kind").as_string() == "none");
  }
  SUBCASE("every URL invalid") {
    write_file(dir / "bad.txt", "not a url\nhttp:///x\n/relative\nhttp://h:70000/\nftp:\n");
    write_file(dir / "p.yaml", pipeline("  - type: file\n    path: bad.txt\n", http));
    auto r = plan(dir / "p.yaml");
    REQUIRE(r.exit_code == 0);
    INFO(r.out);
    CHECK(r.out.find("5 URLs, 0 origins, 5 invalid") != std::string::npos);
    CHECK(r.out.find("e.g. \"not a url\"") != std::string::npos);
    CHECK(r.out.find("e.g. \"http:///x\": no host") != std::string::npos);
    CHECK(r.out.find("the bottleneck: none") != std::string::npos);
    auto doc = plan_json(dir / "p.yaml");
    CHECK(doc.at("invalid").to_number<int>() == 5);
    CHECK(doc.at("valid").to_number<int>() == 0);
    CHECK(doc.at("invalid_examples").as_array().size() == 3);
    CHECK(doc.at("forecast").at("seconds").to_number<double>() == 0);
  }
  SUBCASE("an invalid line with escapes, bad UTF-8 and 100 KB is shown escaped and cut") {
    write_file(dir / "bad.txt", "\x1b[31mred \xff\xfe" + std::string(100'000, 'x') + "\n");
    write_file(dir / "p.yaml", pipeline("  - type: file\n    path: bad.txt\n", http));
    auto r = plan(dir / "p.yaml");
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find('\x1b') == std::string::npos);
    CHECK(r.out.find("e.g. \"\\x1b[31mred \\xff\\xfexxx") != std::string::npos);
    CHECK(r.out.size() < 2000);
    auto doc = plan_json(dir / "p.yaml");
    auto url = std::string(doc.at("invalid_examples").at(0).at("url").as_string());
    CHECK(url.rfind("\\x1b[31m", 0) == 0);
    CHECK(url.size() <= 200 + 3 * 4 + 3);
    CHECK(url.ends_with("..."));
  }
  SUBCASE("a consumer without per-origin limits") {
    write_file(dir / "p.yaml",
               pipeline("  - type: range\n    url: \"http://a.example/{i}\"\n    to: 1000\n",
                        "  type: sleep\n  workers: 10\n  delay: 5ms\n"));
    auto r = plan(dir / "p.yaml", {"--latency", "50ms"});
    REQUIRE(r.exit_code == 0);
    INFO(r.out);
    CHECK(r.out.find("no per-origin limits: the forecast uses workers and latency only") !=
          std::string::npos);
    CHECK(r.out.find("  http://a.example: 1,000 URLs\n") != std::string::npos);
    // 1,000 x 50ms / 10 = 5 s.
    CHECK(r.out.find("total: 1,000 URLs -> 5s; the bottleneck: workers 10") != std::string::npos);
    auto doc = plan_json(dir / "p.yaml", {"--latency", "50ms"});
    CHECK_FALSE(doc.at("consumer").at("per_origin_limits").as_bool());
    CHECK(doc.at("forecast").at("bottleneck").at("kind").as_string() == "workers");
  }
  SUBCASE("${VAR} templates, set and unset") {
    write_file(dir / "p.yaml",
               pipeline("  - type: list\n    urls: [\"${PLAN_BASE}/a\", \"${PLAN_BASE}/b\"]\n"
                        "  - type: range\n    url: \"${PLAN_BASE}/{i}\"\n    to: 3\n",
                        http));
    process_options o;
    o.env["PLAN_BASE"] = "HTTPS://Templ.Example:443";
    auto doc = plan_json(dir / "p.yaml", {}, o);
    auto counts = top_counts(doc);
    CHECK(counts.size() == 1);
    CHECK(counts["https://templ.example"] == 5);
    o.env.clear();
    o.unset_env.push_back("PLAN_BASE");
    auto r = plan(dir / "p.yaml", {}, o);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("p.yaml:4:") != std::string::npos);
    CHECK(r.err.find("PLAN_BASE") != std::string::npos);
    CHECK(r.out.empty());
  }
  SUBCASE("a URL file that does not exist: as `sluice run` says it") {
    write_file(dir / "p.yaml", pipeline("  - type: file\n    path: missing.txt\n", http));
    auto r = plan(dir / "p.yaml");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("p.yaml:4:5: error: no such URL file") != std::string::npos);
    CHECK(r.err.find("missing.txt") != std::string::npos);
    CHECK(r.out.empty());
    auto run = run_process({sluice_bin(), "run", "--no-state", (dir / "p.yaml").string()});
    CHECK(run.exit_code == r.exit_code);
  }
  SUBCASE("a bad pipeline file") {
    write_file(dir / "p.yaml",
               pipeline("  - type: list\n    urlz: [\"http://a/\"]\n", "  type: http\n"));
    auto r = plan(dir / "p.yaml");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("p.yaml:4:5: error:") != std::string::npos);
    CHECK(r.out.empty());
    CHECK(plan(dir / "nonexistent.yaml").exit_code == 2);
    CHECK(plan(dir / "p.yaml", {"--latency", "soon"}).exit_code == 2);
  }
}

TEST_CASE("plan.cli.more_origins_than_the_cap") {
  // 200 origins, 5 counted exactly: the rest go to a top-K summary, whose
  // heavy hitter must still come out on top, and the output says so.
  temp_dir dir("sluice-plan");
  std::string text;
  std::uint64_t total = 0;
  for (int i = 0; i < 200; ++i) {
    text += "http://o" + std::to_string(i) + ".example/\n";
    text += "http://heavy.example/" + std::to_string(i) + "\n";
    total += 2;
  }
  write_file(dir / "urls.txt", text);
  write_file(dir / "p.yaml", pipeline("  - type: file\n    path: urls.txt\n", "  type: http\n"));
  auto doc = plan_json(dir / "p.yaml", {"--exact-origins", "5", "--top", "3"});
  CHECK(doc.at("urls").to_number<std::uint64_t>() == total);
  const auto& o = doc.at("origins").as_object();
  CHECK_FALSE(o.at("exact").as_bool());
  CHECK(o.at("counted_exactly").to_number<int>() == 5);
  CHECK(o.at("summary_origins").to_number<int>() <= 3);
  const auto& top = o.at("top").as_array();
  REQUIRE(!top.empty());
  CHECK(top[0].at("origin").as_string() == "http://heavy.example");
  CHECK(top[0].at("urls").to_number<int>() == 200);
  auto r = plan(dir / "p.yaml", {"--exact-origins", "5", "--top", "3"});
  CHECK(r.out.find("more than 5 distinct origins") != std::string::npos);
  CHECK(r.out.find("Space-Saving") != std::string::npos);
}
