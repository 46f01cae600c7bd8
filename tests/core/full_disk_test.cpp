// A sink's disk fills up mid-run (a 1 MiB tmpfs in a private mount
// namespace under the jsonl sink's directory): the write is retried, then
// the run stops with exit 1 and a message naming ENOSPC; nothing is lost:
// with room, the next run resumes from the last commit and the file holds
// every URL exactly once.
#include <doctest/doctest.h>

#include <unistd.h>

#include <map>

#include <boost/json.hpp>

#include "test_support.hpp"

using namespace sluice::test;
namespace fs = std::filesystem;
namespace json = boost::json;

TEST_CASE("full_disk.jsonl_sink_stops_the_run_and_a_later_run_resumes_every_url_once") {
  temp_dir d;
  constexpr int urls = 100000;
  write_file(d / "p.yaml", R"(name: fulldisk
producers: [{type: range, url: "http://x.test/a-path-long-enough-to-fill-a-disk/{i}", to: 100000}]
consumers: {type: sleep, workers: 10, delay: 0ms}
commit: {interval: 100ms, items: 5000}
sinks: [{type: jsonl, path: out/out.jsonl, retries: 3, retry_backoff: 10ms}]
)");
  fs::create_directories(d / "out");
  // The tmpfs lives as long as the namespace: keep its file for the next run.
  std::string script =
      "mount -t tmpfs -o size=1m tmpfs out && \"$0\" run --no-progress p.yaml; rc=$?; "
      "cp out/out.jsonl saved.jsonl; exit $rc";
  process_options po;
  po.cwd = d.path();
  auto r = run_process(
      {"unshare", ::geteuid() == 0 ? "-m" : "-rm", "sh", "-c", script, sluice_bin()}, po);
  INFO(r.err);
  REQUIRE(r.exit_code == 1);
  CHECK(r.err.find("No space left on device") != std::string::npos);
  CHECK(r.err.find("retrying") != std::string::npos);
  REQUIRE(fs::exists(d / "saved.jsonl"));
  fs::copy_file(d / "saved.jsonl", d / "out" / "out.jsonl");

  auto again = run_process({sluice_bin(), "run", "--no-progress", "p.yaml"}, po);
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(again.err.find("resuming") != std::string::npos);
  auto text = read_file(d / "out" / "out.jsonl");
  REQUIRE((text.empty() || text.back() == '\n'));
  std::map<std::string, int> seen;
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    auto v = json::parse(std::string_view(text).substr(at, end - at)).as_object();
    ++seen[json::value_to<std::string>(v.at("url"))];
    at = end + 1;
  }
  CHECK(seen.size() == urls);
  std::size_t twice = 0;
  for (auto& [u, n] : seen) {
    twice += n > 1 ? 1 : 0;
  }
  CHECK(twice == 0);
}
