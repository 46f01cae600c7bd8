// The hostile matrix: every `/hostile/<case>` of the built-in origin fetched
// by `sluice run` (one worker, so both requests share one pooled connection)
// followed half a second later (`rate: 2/s`, as a connection idles in a pool)
// by a canary request to the same origin. Each case must end as its
// table row says (kind, or ok with the byte count), within its timeouts and
// 64 MiB of memory, and the canary must get its own response: no response
// ever lands on the wrong request.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "hostile.hpp"
#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

namespace json = boost::json;
namespace ho = sluice::stages::origin;

namespace {

struct outcome_line {
  std::string url;
  std::string kind;  // "" for ok
  std::uint64_t bytes = 0;
  std::string body;
};

std::vector<outcome_line> read_results(const std::filesystem::path& p) {
  std::vector<outcome_line> out;
  std::istringstream in(sluice::test::read_file(p));
  for (std::string line; std::getline(in, line);) {
    auto o = json::parse(line).as_object();
    outcome_line l;
    l.url = json::value_to<std::string>(o.at("url"));
    if (auto* k = o.if_contains("error_kind")) {
      l.kind = json::value_to<std::string>(*k);
    }
    l.bytes = json::value_to<std::uint64_t>(o.at("bytes"));
    if (auto* b = o.if_contains("body")) {
      l.body = json::value_to<std::string>(*b);
    }
    out.push_back(std::move(l));
  }
  return out;
}

std::string pipeline(const std::string& hostile, const std::string& canary) {
  return fmt::format(R"(name: hostile
producers:
  - type: list
    urls: ["{}", "{}"]
consumers:
  type: http
  workers: 1
  rate: 2/s
  retry: {{attempts: 1, retry_after_max: 1s}}
  timeouts: {{header: 1s, total: 3s, min_speed: 1000, speed_window: 1s}}
  max_decoded: 64MiB
sinks:
  - type: jsonl
    path: out.jsonl
    body: true
)",
                     hostile, canary);
}

}  // namespace

TEST_CASE("http.hostile.every_case_then_a_canary_on_the_same_connection") {
  sluice::origin_server origin(sluice::origin_options{});
  origin.start();
  sluice::test::temp_dir dir;
  REQUIRE(ho::hostile_cases().size() >= 40);
  int n = 0;
  for (const auto& c : ho::hostile_cases()) {
    CAPTURE(c.name);
    std::string name(c.name);
    std::string canary = fmt::format("{}/item/canary-{}", origin.base_url(), n++);
    auto work = dir / name;
    std::filesystem::create_directories(work);
    sluice::test::write_file(work / "p.yaml",
                             pipeline(origin.base_url() + "/hostile/" + name, canary));
    sluice::test::process_options po;
    po.cwd = work;
    po.timeout = std::chrono::seconds(30);
    auto run = sluice::test::run_process({sluice::test::sluice_bin(), "run", "-q", "p.yaml"}, po);
    INFO(run.err);
    CHECK(run.exit_code != 137);  // not killed by the timeout
    CHECK_MESSAGE(run.max_rss_kb < 64 * 1024, "peak RSS " << run.max_rss_kb << " KiB");
    auto rs = read_results(work / "out.jsonl");
    REQUIRE(rs.size() == 2);
    // jsonl keeps the input order of neither: find each by URL.
    const auto& hostile = rs[0].url == canary ? rs[1] : rs[0];
    const auto& can = rs[0].url == canary ? rs[0] : rs[1];
    if (c.expect.kind == sluice::fetch_errc{}) {
      CHECK_MESSAGE(hostile.kind == "", "got " << hostile.kind);
      CHECK(hostile.bytes == c.expect.bytes);
    } else {
      CHECK(hostile.kind == sluice::name(c.expect.kind));
    }
    CHECK_MESSAGE(can.kind == "", "canary failed: " << can.kind);
    CHECK(can.body == fmt::format("item canary-{}\n", n - 1));
  }
}
