// `dedup: url` end to end with `sluice run`: repeated URLs (within one
// producer and across producers) are dropped before the queue, exactly: each
// distinct URL reaches the sinks once, none is lost; memory stays flat for
// 10,000,000 URLs; and after kill -9 + resume still each URL once.
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "test_support.hpp"

using namespace sluice::test;
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

/// Writes `n` URLs with about 30% repeats (of earlier ones, any distance
/// back), seeded; returns the distinct ones.
std::set<std::string> write_urls(const fs::path& p, int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> all;
  std::string text;
  for (int i = 0; i < n; ++i) {
    std::string u;
    if (!all.empty() && rng() % 10 < 3) {
      u = all[rng() % all.size()];
    } else {
      u = "http://x.test/item/" + std::to_string(i) + "?k=" + std::to_string(rng() % 1000);
    }
    all.push_back(u);
    text += u + "\n";
  }
  write_file(p, text);
  return {all.begin(), all.end()};
}

/// URL -> lines in a jsonl file.
std::map<std::string, int> jsonl_urls(const fs::path& p, bool& whole) {
  std::map<std::string, int> out;
  auto text = fs::exists(p) ? read_file(p) : std::string();
  whole = text.empty() || text.back() == '\n';
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    end = end == std::string::npos ? text.size() : end;
    auto v = json::parse(std::string_view(text).substr(at, end - at));
    ++out[json::value_to<std::string>(v.at("url"))];
    at = end + 1;
  }
  return out;
}

json::object stats_of(const fs::path& p) {
  return json::parse(read_file(p)).as_object();
}

std::uint64_t num(const json::object& o, const char* k) {
  return o.at(k).to_number<std::uint64_t>();
}

}  // namespace

TEST_CASE("dedup.run.ten_million_urls_with_30_percent_repeats_in_flat_memory") {
  temp_dir d;
  // 7,000,000 distinct URLs; the second producer repeats 3,000,000 of them.
  write_file(d / "p.yaml", R"(name: dedup10m
producers:
  - {type: range, url: "http://x.test/item/{i}", to: 7000000}
  - {type: range, url: "http://x.test/item/{i}", to: 3000000}
consumers: {type: sleep, workers: 100, delay: 0ms}
dedup: url
sinks: [{type: "null"}]
)");
  auto r = run_process({sluice_bin(), "run", "--no-progress", (d / "p.yaml").string(),
                        "--stats-json", (d / "stats.json").string()},
                       {.timeout = std::chrono::seconds(240)});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto s = stats_of(d / "stats.json");
  CHECK(num(s, "consumed") == 7000000);
  CHECK(num(s, "produced") == 7000000);
  CHECK(num(s, "duplicates_dropped") == 3000000);
  CHECK(r.err.find("duplicates 3000000 dropped") != std::string::npos);
  MESSAGE("peak RSS " << r.max_rss_kb << " KiB, " << s.at("items_per_s").to_number<double>()
                      << " items/s");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  CHECK(r.max_rss_kb <= 64 * 1024);
#endif
  // The run finished: its dedup files are gone with it.
  for (auto& e : fs::directory_iterator(d / ".sluice" / "dedup10m")) {
    CHECK(e.path().filename().string().rfind("dedup", 0) != 0);
  }
}

TEST_CASE("dedup.run.each_distinct_url_once_within_and_across_producers") {
  temp_dir d;
  auto distinct = write_urls(d / "urls.txt", 50000, 11);
  auto more = write_urls(d / "more.txt", 20000, 12);  // the same URL scheme: overlaps
  std::set<std::string> all = distinct;
  all.insert(more.begin(), more.end());
  write_file(d / "p.yaml", R"(name: dedupfile
producers:
  - {type: file, path: urls.txt}
  - {type: file, path: more.txt}
  - {type: list, urls: ["http://x.test/item/0?k=0", "http://x.test/item/0?k=0"]}
consumers: {type: sleep, workers: 20, delay: 0ms}
dedup: url
sinks: [{type: jsonl, path: out.jsonl}]
)");
  all.insert("http://x.test/item/0?k=0");
  std::vector<std::string> argv{sluice_bin(),    "run",          (d / "p.yaml").string(),
                                "--no-progress", "--stats-json", (d / "stats.json").string()};
  SUBCASE("with state") {}
  SUBCASE("with --no-state (the set lives in the run's temporary directory)") {
    argv.push_back("--no-state");
  }
  auto r = run_process(argv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  bool whole = false;
  auto got = jsonl_urls(d / "out.jsonl", whole);
  CHECK(whole);
  CHECK(got.size() == all.size());
  std::size_t twice = 0, missing = 0;
  for (auto& [u, n] : got) {
    twice += n > 1 ? 1 : 0;
  }
  for (auto& u : all) {
    missing += got.count(u) ? 0 : 1;
  }
  CHECK(twice == 0);
  CHECK(missing == 0);
  auto s = stats_of(d / "stats.json");
  CHECK(num(s, "consumed") == all.size());
  CHECK(num(s, "duplicates_dropped") == 50000 + 20000 + 2 - all.size());
}

TEST_CASE("dedup.run.kill_9_and_resume_each_distinct_url_once") {
  temp_dir d;
  auto all = write_urls(d / "urls.txt", 20000, 21);
  // About 2 s a run: 20 workers of 2 ms each.
  write_file(d / "p.yaml", R"(name: dedupkill
producers: [{type: file, path: urls.txt}, {type: file, path: urls.txt}]
queue: {capacity: 100}
consumers: {type: sleep, workers: 20, delay: 2ms}
commit: {interval: 100ms, items: 200}
dedup: url
sinks: [{type: jsonl, path: out.jsonl}]
)");
  std::mt19937 rng(static_cast<unsigned>(std::random_device{}()));
  int killed = 0;
  bool finished = false;
  for (int round = 0; round < 30 && !finished; ++round) {
    auto c = spawn_process({sluice_bin(), "run", "-q", "--no-progress", (d / "p.yaml").string()},
                           d / "stdout", d / "stderr");
    if (round < 6) {
      std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 500));
      ::kill(c.pid, SIGKILL);
    }
    auto r = wait_process(c, 120s);
    CAPTURE(round);
    INFO(read_file(d / "stderr"));
    if (r.exit_code == 0) {
      finished = true;
    } else {
      CHECK(r.exit_code == 128 + SIGKILL);
      ++killed;
    }
  }
  REQUIRE(finished);
  CHECK(killed >= 1);
  bool whole = false;
  auto got = jsonl_urls(d / "out.jsonl", whole);
  CHECK(whole);
  CHECK(got.size() == all.size());
  std::size_t twice = 0;
  for (auto& [u, n] : got) {
    twice += n > 1 ? 1 : 0;
  }
  CHECK(twice == 0);
  for (auto& u : all) {
    REQUIRE_MESSAGE(got.count(u) == 1, u);
  }
}

// `dedup: final_url`: two URLs that redirect to one place are fetched, but
// only the first result reaches the sinks (the comparison is after the
// redirects, so it needs the fetch).
TEST_CASE("dedup.run.final_url_keeps_one_result_per_final_url") {
  temp_dir d;
  write_file(d / "p.yaml", R"(name: dedupfinal
origin: {port: 0}
producers:
  - {type: range, url: "${origin}/redirect-to?url=/item/{i}", to: 100}
  - {type: range, url: "${origin}/item/{i}", to: 100}
consumers: {type: http, workers: 10}
dedup: final_url
sinks: [{type: jsonl, path: out.jsonl}]
)");
  auto r = run_process({sluice_bin(), "run", "--no-progress", (d / "p.yaml").string(),
                        "--stats-json", (d / "stats.json").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto text = read_file(d / "out.jsonl");
  std::map<std::string, int> finals;
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    auto v = json::parse(std::string_view(text).substr(at, end - at)).as_object();
    auto u = json::value_to<std::string>(v.contains("final_url") ? v.at("final_url") : v.at("url"));
    ++finals[u.substr(u.find("/item/"))];
    at = end + 1;
  }
  CHECK(finals.size() == 100);
  for (auto& [u, n] : finals) {
    CHECK_MESSAGE(n == 1, u);
  }
  auto s = stats_of(d / "stats.json");
  CHECK(num(s, "duplicates_dropped") == 100);
  CHECK(num(s, "consumed") == 100);
}
