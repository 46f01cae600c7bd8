// Acceptance of the sinks end to end with the real program: 10,000 URLs from
// the built-in origin through the http consumer into files + jsonl + sqlite;
// then kill -9 in the middle of a run and a restart.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <boost/json/parse.hpp>

#include "body_store.hpp"
#include "sink_test_util.hpp"
#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

using namespace sluice;
using namespace sluice::test_sinks;
namespace fs = std::filesystem;

namespace {

std::string pipeline(const fs::path& out, int n, const std::string& url, int workers,
                     int flush_records, int batch, int port = 0) {
  return "name: sinks-acceptance\n"
         "origin:\n"
         "  port: " +
         std::to_string(port) +
         "\n"
         "  threads: 1\n"
         "producers:\n"
         "  - type: range\n"
         "    url: \"${origin}" +
         url +
         "\"\n"
         "    from: 0\n"
         "    to: " +
         std::to_string(n) +
         "\n"
         "queue:\n"
         "  capacity: 200\n"
         "consumers:\n"
         "  type: http\n"
         "  workers: " +
         std::to_string(workers) +
         "\n"
         "  memory_body: 4KiB\n"
         "sinks:\n"
         "  - type: files\n"
         "    dir: " +
         (out / "bodies").string() +
         "\n"
         "    when: status == 2xx\n"
         "  - type: jsonl\n"
         "    path: " +
         (out / "results.jsonl").string() +
         "\n"
         "    append: true\n"
         "    flush_records: " +
         std::to_string(flush_records) +
         "\n"
         "  - type: sqlite\n"
         "    path: " +
         (out / "results.db").string() +
         "\n"
         "    batch: " +
         std::to_string(batch) +
         "\n"
         "    inline_max: 1KiB\n"
         "    body_dir: " +
         (out / "db-bodies").string() + "\n";
}

// Every line of a jsonl file, each parsed; fails on a torn or invalid line.
std::vector<boost::json::object> read_jsonl(const fs::path& p) {
  std::string all = test::read_file(p);
  std::vector<boost::json::object> out;
  std::size_t start = 0;
  while (start < all.size()) {
    auto nl = all.find('\n', start);
    REQUIRE_MESSAGE(nl != std::string::npos, "torn last line in " << p);
    auto v = boost::json::parse(std::string_view(all).substr(start, nl - start));
    out.push_back(v.as_object());
    start = nl + 1;
  }
  return out;
}

std::string db_text(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK,
                  sqlite3_errmsg(h));
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

std::string expected_body(std::uint64_t n) {
  std::string s(n, '\0');
  for (std::uint64_t i = 0; i < n; ++i) {
    s[i] = origin_body_byte(i);
  }
  return s;
}

// Regular files under `dir`, skipping the temporary area.
std::map<fs::path, std::uintmax_t> final_files(const fs::path& dir) {
  std::map<fs::path, std::uintmax_t> out;
  if (!fs::exists(dir)) {
    return out;
  }
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->path().filename() == ".sluice-tmp") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) {
      out[fs::relative(it->path(), dir)] = it->file_size();
    }
  }
  return out;
}

// The index `i` of a URL ending in the template's number.
std::uint64_t number_in(const std::string& url, const std::string& key) {
  auto pos = url.find(key);
  REQUIRE(pos != std::string::npos);
  return std::stoull(url.substr(pos + key.size()));
}

// A port that was free a moment ago (the restarted run must serve the same
// URLs, so the port cannot be picked anew by the origin).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Points TMPDIR (the consumer's temporary files) into `dir` for the child
// processes, on the same file system as the outputs; restored on exit.
struct tmpdir_guard {
  explicit tmpdir_guard(const fs::path& dir) {
    fs::create_directories(dir);
    ::setenv("TMPDIR", dir.c_str(), 1);
  }
  ~tmpdir_guard() { ::unsetenv("TMPDIR"); }
};

}  // namespace

TEST_CASE("sinks.acceptance.ten_thousand_urls_into_files_jsonl_sqlite") {
  test::temp_dir d("sluice-acceptance");
  fs::path out = d.path() / "out";
  fs::path yaml = d.path() / "acceptance.yaml";
  constexpr int n = 10000;
  test::write_file(yaml, pipeline(out, n, "/bytes/{i}", 50, 500, 500));
  tmpdir_guard tmp(d.path() / "tmp");
  auto r = test::run_process({test::sluice_bin(), "run", "--no-progress", yaml.string()},
                             {.timeout = std::chrono::seconds(240)});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  // jsonl: every URL exactly once, all ok with the served size.
  auto lines = read_jsonl(out / "results.jsonl");
  CHECK(lines.size() == n);
  std::set<std::uint64_t> seen;
  std::set<std::string> urls;
  for (const auto& o : lines) {
    std::string url(o.at("url").as_string());
    urls.insert(url);
    auto i = number_in(url, "/bytes/");
    seen.insert(i);
    CHECK(o.at("ok").as_bool());
    CHECK(o.at("bytes").to_number<std::uint64_t>() == i);
  }
  CHECK(seen.size() == n);
  CHECK(urls.size() == n);
  CHECK(*seen.rbegin() == n - 1);

  // sqlite: one row per URL, stored once, and a sound file.
  fs::path db = out / "results.db";
  CHECK(db_text(db, "PRAGMA integrity_check") == "ok");
  CHECK(db_text(db, "SELECT count(*) FROM results") == std::to_string(n));
  CHECK(db_text(db, "SELECT count(DISTINCT url) FROM results") == std::to_string(n));
  CHECK(db_text(db, "SELECT max(store_count) FROM results") == "1");
  CHECK(db_text(db, "SELECT count(*) FROM results WHERE bytes <= 1024 AND length(body) = bytes") ==
        "1025");
  CHECK(db_text(db, "SELECT count(*) FROM results WHERE bytes > 1024 AND body_path IS NOT NULL") ==
        std::to_string(n - 1025));

  // files: every body where the hash layout says, with the bytes served.
  auto files = final_files(out / "bodies");
  CHECK(files.size() == n);
  std::string pattern = expected_body(n);
  std::size_t good = 0;
  for (const auto& url : urls) {
    auto i = number_in(url, "/bytes/");
    fs::path p = out / "bodies" / stages::sinks::hash_path(url);
    if (test::read_file(p) == std::string_view(pattern).substr(0, i)) {
      ++good;
    } else {
      FAIL_CHECK("wrong body in " << p << " for " << url);
    }
  }
  CHECK(good == n);
  CHECK(fs::is_empty(out / "bodies" / ".sluice-tmp"));
  // The sqlite sink's external bodies are complete too.
  CHECK(final_files(out / "db-bodies").size() == static_cast<std::size_t>(n - 1025));
}

TEST_CASE("sinks.acceptance.kill_9_then_restart") {
  test::temp_dir d("sluice-kill9");
  fs::path out = d.path() / "out";
  fs::path yaml = d.path() / "kill.yaml";
  constexpr int n = 5000;
  // Small batches: many writes in flight when the process dies.
  test::write_file(yaml, pipeline(out, n, "/bytes/1{i}", 8, 10, 20, free_port()));
  tmpdir_guard tmp(d.path() / "tmp");
  std::vector<std::string> argv = {test::sluice_bin(), "run", "--no-progress", yaml.string()};

  pid_t pid = test::spawn_process(argv, d.path() / "run1.out", d.path() / "run1.err").pid;
  // Wait until results are being written, then kill without warning.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool exited = false;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;  // too early: it should still be running
      break;
    }
    std::error_code ec;
    if (fs::file_size(out / "results.jsonl", ec) > 150000 && !ec) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE_MESSAGE(!exited, test::read_file(d.path() / "run1.err"));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  auto check_bodies = [&](bool all) {
    // Under final names only complete bodies: /bytes/1<i> serves "1<i>"
    // bytes of the pattern.
    auto files = final_files(out / "bodies");
    std::string pattern = expected_body(1 + 10 * n);
    for (const auto& [rel, size] : files) {
      std::string body = test::read_file(out / "bodies" / rel);
      CHECK_MESSAGE(body == std::string_view(pattern).substr(0, body.size()), rel);
    }
    if (all) {
      CHECK(files.size() == n);
    }
    return files.size();
  };

  // After the kill: the database is sound; bodies under final names are
  // whole; jsonl may end torn (that is what the restart repairs).
  fs::path db = out / "results.db";
  REQUIRE(fs::exists(db));
  CHECK(db_text(db, "PRAGMA integrity_check") == "ok");
  std::size_t after_kill = check_bodies(false);
  CHECK(after_kill < static_cast<std::size_t>(n));
  std::string jsonl_after_kill = test::read_file(out / "results.jsonl");
  MESSAGE("after kill -9: " << after_kill << " bodies, " << jsonl_after_kill.size()
                            << " jsonl bytes, torn tail: "
                            << (!jsonl_after_kill.empty() && jsonl_after_kill.back() != '\n'));

  // Restart: completes, repairs any torn line, and everything is consistent.
  auto r = test::run_process(argv, {.timeout = std::chrono::seconds(240)});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = read_jsonl(out / "results.jsonl");  // fails on any torn or invalid line
  std::set<std::string> urls;
  for (const auto& o : lines) {
    urls.insert(std::string(o.at("url").as_string()));
  }
  CHECK(urls.size() == n);
  CHECK(lines.size() >= static_cast<std::size_t>(n));
  CHECK(db_text(db, "PRAGMA integrity_check") == "ok");
  CHECK(db_text(db, "SELECT count(*) FROM results") == std::to_string(n));
  check_bodies(true);
  CHECK(fs::is_empty(out / "bodies" / ".sluice-tmp"));  // the crash's leftovers were removed
}

TEST_CASE("sinks.errors.disk_full_stops_the_pipeline_with_a_clear_message") {
  test::temp_dir d("sluice-devfull");
  fs::path yaml = d.path() / "full.yaml";
  test::write_file(yaml,
                   "name: full\n"
                   "producers:\n"
                   "  - type: range\n"
                   "    url: \"http://127.0.0.1:1/{i}\"\n"
                   "    from: 0\n"
                   "    to: 100\n"
                   "consumers:\n"
                   "  type: sleep\n"
                   "  workers: 4\n"
                   "sinks:\n"
                   "  - type: jsonl\n"
                   "    path: ok.jsonl\n"
                   "  - type: jsonl\n"
                   "    path: /dev/full\n"
                   "    retries: 3\n"
                   "    retry_backoff: 10ms\n");
  auto r = test::run_process({test::sluice_bin(), "run", "--no-progress", yaml.string()},
                             {.timeout = std::chrono::seconds(60)});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("(jsonl): writing /dev/full failed after 3 attempts: cannot write /dev/full: "
                   "No space left on device") != std::string::npos);
  CHECK(r.err.find("attempt 1 of 3") != std::string::npos);  // the retries were logged
  // The healthy sink kept every result.
  CHECK(read_jsonl(d.path() / "ok.jsonl").size() == 100);
}
