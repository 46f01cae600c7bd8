// Durable runs, end to end: `sluice run` with the http consumer against a
// separate `sluice serve` origin (it outlives the runs and counts their
// requests), killed with SIGKILL or SIGINT at random moments and run again
// until it finishes. Afterwards every URL is exactly once in jsonl, csv and
// the sqlite table, no line is torn, the database passes integrity_check,
// every body file is complete and no temporary file is left; the origin's
// request count bounds the work redone per interruption.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "peers.hpp"
#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

using namespace sluice::test;
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// The suite's size; scripts/resume-soak.sh runs 50,000 URLs and 20 kills
// through the same code by setting these.
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}
const int urls = env_int("SLUICE_RESUME_URLS", 1500);
const int rounds_override = env_int("SLUICE_RESUME_ROUNDS", 0);
constexpr int workers = 10;
constexpr int commit_items = 50;
constexpr std::size_t body_bytes = 3000;

std::string pipeline(const std::string& origin) {
  // `urls` bodies of 3,000 bytes, each dripped over 20 ms: about 4 s of work
  // for the suite's 1,500.
  return "name: resume\n"
         "producers:\n"
         "  - {type: range, url: \"" +
         origin + "/drip?bytes=3000&duration=20&i={i}\", to: " + std::to_string(urls) +
         "}\n"
         "queue: {capacity: 100}\n"
         "consumers: {type: http, workers: " +
         std::to_string(workers) +
         ", per_host: 100, memory_body: 1KiB}\n"
         "commit: {interval: 200ms, items: " +
         std::to_string(commit_items) +
         "}\n"
         "sinks:\n"
         "  - {type: jsonl, path: out.jsonl}\n"
         "  - {type: csv, path: out.csv}\n"
         "  - {type: sqlite, path: out.db}\n"
         "  - {type: files, dir: bodies}\n";
}

std::uint64_t origin_requests(const std::string& origin) {
  auto r = http_fetch(origin + "/stats");
  REQUIRE(r.status == 200);
  return json::parse(r.body).as_object().at("requests").to_number<std::uint64_t>();
}

/// The `i` query parameter of a URL of the pipeline.
int index_of(std::string_view url) {
  auto at = url.rfind("i=");
  REQUIRE(at != std::string_view::npos);
  return std::stoi(std::string(url.substr(at + 2)));
}

/// Each `i` of the jsonl file with its count; fails on a torn or bad line.
std::map<int, int> jsonl_counts(const fs::path& p) {
  std::map<int, int> n;
  auto all = read_file(p);
  REQUIRE_MESSAGE((all.empty() || all.back() == '\n'), "torn last line in " << p);
  std::size_t start = 0;
  while (start < all.size()) {
    auto nl = all.find('\n', start);
    auto v = json::parse(std::string_view(all).substr(start, nl - start)).as_object();
    CHECK(v.at("ok").as_bool());
    ++n[index_of(v.at("url").as_string())];
    start = nl + 1;
  }
  return n;
}

/// Each `i` of the csv file (the url is the first column after the header).
std::map<int, int> csv_counts(const fs::path& p) {
  std::map<int, int> n;
  auto all = read_file(p);
  REQUIRE_MESSAGE((all.empty() || all.back() == '\n'), "torn last line in " << p);
  auto header_end = all.find('\n');
  REQUIRE(header_end != std::string::npos);
  auto header = all.substr(0, header_end);
  REQUIRE(header.find("url") != std::string::npos);
  for (std::size_t start = header_end + 1; start < all.size();) {
    auto nl = all.find('\n', start);
    auto line = std::string_view(all).substr(start, nl - start);
    auto at = line.find("/drip?");
    REQUIRE_MESSAGE(at != std::string_view::npos, line);
    auto end = line.find_first_of(",\"", at);
    ++n[index_of(line.substr(at, end - at))];
    start = nl + 1;
  }
  return n;
}

struct db_view {
  std::map<int, int> urls;
  std::string integrity;
};

db_view read_db(const fs::path& p) {
  db_view out;
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(p.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW) {
    out.integrity = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  REQUIRE(sqlite3_prepare_v2(h, "SELECT url FROM results", -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    ++out.urls[index_of(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)))];
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

/// Every URL exactly once.
void check_exactly_once(const std::map<int, int>& n, const char* what) {
  CAPTURE(what);
  CHECK(n.size() == urls);
  int dups = 0;
  for (const auto& [i, c] : n) {
    dups += c - 1;
    CHECK(i >= 0);
    CHECK(i < urls);
  }
  CHECK(dups == 0);
}

/// Regular files under `dir` (recursively).
std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec)) {
      out.push_back(it->path());
    }
  }
  return out;
}

/// Interrupts the run `rounds` times with `sig` at random moments, then lets
/// the last one finish; checks the final state of every sink.
void interrupt_and_resume(int sig, int rounds) {
  temp_dir d;
  fs::create_directories(d / "tmp");
  background_process origin({sluice_bin(), "serve", "--port", "0", "--threads", "2"});
  auto url = origin.read_line(10s);
  REQUIRE(url.has_value());
  write_file(d / "p.yaml", pipeline(*url));
  process_options po;
  po.cwd = d.path();
  po.env["TMPDIR"] = (d / "tmp").string();
  std::mt19937 rng(static_cast<unsigned>(std::random_device{}()));
  // Random moments over the whole run (about 500 items/s), and never
  // before the run has started fetching.
  const int run_ms = urls * 2;
  std::uniform_int_distribution<int> after_ms(300, std::max(1200, 2 * run_ms / rounds));
  int interrupted = 0;
  bool finished = false;
  std::chrono::steady_clock::duration slowest{};
  for (int round = 0; round <= rounds + 20 && !finished; ++round) {
    auto c = spawn_process({sluice_bin(), "run", "-q", "--no-progress", "p.yaml"}, d / "stdout",
                           d / "stderr", po);
    auto signalled = std::chrono::steady_clock::now();
    if (round < rounds) {
      std::this_thread::sleep_for(std::chrono::milliseconds(after_ms(rng)));
      signalled = std::chrono::steady_clock::now();
      ::kill(c.pid, sig);
    }
    auto r = wait_process(c, 120s);
    const auto took = std::chrono::steady_clock::now() - signalled;
    CAPTURE(round);
    INFO(read_file(d / "stderr"));
    if (r.exit_code == 0) {
      finished = true;
      break;
    }
    ++interrupted;
    if (sig == SIGKILL) {
      CHECK(r.exit_code == 128 + SIGKILL);
    } else {
      CHECK(r.exit_code == 128 + sig);
      // In flight: 10 items of 20 ms; then the last commit and the exit,
      // within 1 s of them.
      slowest = std::max(slowest, took);
      CHECK(took < 1s + 20ms);
    }
    // A resumed run says so, and the pipeline file did not change.
    REQUIRE(fs::exists(d / ".sluice" / "resume" / "state.db"));
  }
  REQUIRE(finished);
  MESSAGE(interrupted << " interruptions before the run finished");
  if (sig != SIGKILL) {
    MESSAGE("slowest exit after the signal: "
            << std::chrono::duration<double, std::milli>(slowest).count() << " ms");
  }
  CHECK(interrupted >= 1);

  check_exactly_once(jsonl_counts(d / "out.jsonl"), "jsonl");
  check_exactly_once(csv_counts(d / "out.csv"), "csv");
  auto db = read_db(d / "out.db");
  CHECK(db.integrity == "ok");
  check_exactly_once(db.urls, "sqlite");
  // Every body file complete; no temporary file left in the sink or TMPDIR.
  const auto body = sluice::origin_body(body_bytes);
  std::size_t bodies = 0;
  for (const auto& f : files_under(d / "bodies")) {
    auto rel = fs::relative(f, d / "bodies").string();
    CAPTURE(rel);
    CHECK(rel.find(".sluice-tmp") == std::string::npos);
    CHECK(read_file(f) == body);
    ++bodies;
  }
  CHECK(bodies == urls);
  for (const auto& f : files_under(d / "tmp")) {
    CHECK_MESSAGE(f.filename() == ".sluice-owner", "left in TMPDIR: " << f);
  }

  // Redone work, on average over the interruptions: at most the items in
  // flight (workers) and those completed since the last commit began. A
  // commit starts once commit.items were delivered (or the 200 ms interval
  // passed), noticed at the next 50 ms tick, and items keep arriving while
  // its fsyncs run: one commit interval holds commit.items plus what arrives
  // in that latency, at most another commit.items at this pipeline's rate
  // (~470 items/s; fsyncs ~12 ms, far longer on a loaded machine). So the
  // bound is workers + 2 x commit.items = 110. The soak's 20 kills average 41
  // (workers + commit.items = 60 holds there); the suite's 4 or 5 kills are
  // too few for that tighter bound (60.5 seen once in CI under load).
  auto requests = origin_requests(*url);
  MESSAGE("origin requests: " << requests << " for " << urls << " URLs, " << interrupted
                              << " interruptions");
  CHECK(requests >= static_cast<std::uint64_t>(urls));
  const auto per_interruption = (requests - urls) / static_cast<double>(interrupted);
  MESSAGE("redone per interruption: " << per_interruption);
  CHECK(per_interruption <= workers + 2 * commit_items);

  // The finished run marked its state finished: the next run starts fresh.
  // A whole run again: ~500 items/s, so 100 s for the soak's 50,000.
  po.timeout = 60s + std::chrono::milliseconds(urls * 5);
  auto again = run_process({sluice_bin(), "run", "-q", "--no-progress", "p.yaml"}, po);
  INFO(again.err);
  CHECK(again.err.find("resuming") == std::string::npos);
  CHECK(again.exit_code == 0);
}

}  // namespace

TEST_CASE("http.resume.sigkill_at_random_moments_every_url_once_in_every_sink") {
  interrupt_and_resume(SIGKILL, rounds_override > 0 ? rounds_override : 8);
}

TEST_CASE("http.resume.sigint_at_random_moments_every_url_once_in_every_sink") {
  interrupt_and_resume(SIGINT, rounds_override > 0 ? rounds_override : 5);
}
