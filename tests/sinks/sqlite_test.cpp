// The sqlite sink against real SQLite files: schema, upsert by URL, batched
// transactions, inline and external bodies, WAL, integrity after failures.
#include <sqlite3.h>
#include <sys/resource.h>

#include <csignal>
#include <fstream>

#include <doctest/doctest.h>

#include "sink_test_util.hpp"
#include "sinks.hpp"
#include "test_support.hpp"

using namespace sluice;
using namespace sluice::stages::sinks;
using namespace sluice::test_sinks;
namespace fs = std::filesystem;

namespace {

// A second, independent connection, as another process would see the file.
struct reader {
  sqlite3* db = nullptr;
  explicit reader(const fs::path& p) {
    REQUIRE(sqlite3_open_v2(p.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  }
  ~reader() { sqlite3_close(db); }
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK,
                    sqlite3_errmsg(db));
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
      out = std::string(reinterpret_cast<const char*>(sqlite3_column_blob(st, 0)),
                        static_cast<std::size_t>(sqlite3_column_bytes(st, 0)));
    } else if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
      out = "NULL";
    }
    sqlite3_finalize(st);
    return out;
  }
  long long count() { return std::stoll(text("SELECT count(*) FROM results")); }
};

sqlite_config config_at(const fs::path& p) {
  return {.path = p, .batch_rows = 1, .retry = quick_retries()};
}

}  // namespace

TEST_CASE("sqlite.upsert.one_row_per_url") {
  test::temp_dir d("sluice-sqlite-upsert");
  fs::path p = d.path() / "out.db";
  context_fixture f("sqlite");
  auto s = make_sqlite_sink(f.ctx, config_at(p));
  auto failed = make_result("http://h/c", 0, "", "timeout");
  f.run(
      s->write({make_result("http://h/a", 200, "A"), make_result("http://h/b", 404, "B"), failed}));
  f.run(s->write({make_result("http://h/a", 500, "A2"), make_result("http://h/c", 200, "C")}));
  f.run(s->close());
  reader r(p);
  CHECK(r.text("PRAGMA integrity_check") == "ok");
  CHECK(r.text("PRAGMA journal_mode") == "wal");
  CHECK(r.count() == 3);
  CHECK(r.text("SELECT status FROM results WHERE url='http://h/a'") == "500");
  CHECK(r.text("SELECT body FROM results WHERE url='http://h/a'") == "A2");
  CHECK(r.text("SELECT store_count FROM results WHERE url='http://h/a'") == "2");
  CHECK(r.text("SELECT store_count FROM results WHERE url='http://h/b'") == "1");
  CHECK(r.text("SELECT ok FROM results WHERE url='http://h/c'") == "1");
  CHECK(r.text("SELECT error_kind FROM results WHERE url='http://h/c'") == "NULL");
}

TEST_CASE("sqlite.batching.by_count_and_by_time") {
  test::temp_dir d("sluice-sqlite-batch");
  fs::path p = d.path() / "out.db";
  context_fixture f("sqlite");
  auto s = make_sqlite_sink(
      f.ctx, {.path = p, .batch_rows = 3, .batch_interval = std::chrono::milliseconds(50)});
  reader r(p);
  check_batches_by_count_and_time(f, *s, [&] { return static_cast<std::size_t>(r.count()); });
}

TEST_CASE("sqlite.bodies.inline_or_in_body_dir") {
  test::temp_dir d("sluice-sqlite-bodies");
  fs::path p = d.path() / "out.db";
  context_fixture f("sqlite");
  auto cfg = config_at(p);
  cfg.inline_max = 4;
  cfg.body_dir = d.path() / "bodies";
  auto s = make_sqlite_sink(f.ctx, cfg);
  // A streamed body: the consumer's temporary file.
  fs::path tmp = d.path() / "streamed.tmp";
  { std::ofstream(tmp, std::ios::binary) << std::string(100000, 'z'); }
  auto streamed = std::make_shared<result>(*make_result("http://h/streamed", 200));
  streamed->body_file = tmp.string();
  streamed->bytes = 100000;
  f.run(s->write({make_result("http://h/small", 200, "tiny"),
                  make_result("http://h/large", 200, "larger body"), streamed}));
  f.run(s->close());
  reader r(p);
  CHECK(r.text("SELECT body FROM results WHERE url='http://h/small'") == "tiny");
  CHECK(r.text("SELECT body_path FROM results WHERE url='http://h/small'") == "NULL");
  std::string large = r.text("SELECT body_path FROM results WHERE url='http://h/large'");
  CHECK(large == hash_path("http://h/large").string());
  CHECK(test::read_file(cfg.body_dir / large) == "larger body");
  std::string sp = r.text("SELECT body_path FROM results WHERE url='http://h/streamed'");
  CHECK(test::read_file(cfg.body_dir / sp) == std::string(100000, 'z'));
  CHECK(fs::exists(tmp));  // linked, not stolen: other sinks may still need it
  CHECK(fs::equivalent(tmp, cfg.body_dir / sp));  // the same inode: no copy was made
}

TEST_CASE("sqlite.errors.failed_batch_rolls_back") {
  test::temp_dir d("sluice-sqlite-full");
  fs::path p = d.path() / "out.db";
  context_fixture f("sqlite");
  auto cfg = config_at(p);
  cfg.batch_rows = 1000;
  auto s = make_sqlite_sink(f.ctx, cfg);
  std::vector<result_ptr> first;
  for (int i = 0; i < 10; ++i) {
    first.push_back(make_result("http://h/" + std::to_string(i), 200, "x"));
  }
  f.run(s->write(first));
  f.run(s->close());  // commits and checkpoints

  auto s2 = make_sqlite_sink(f.ctx, cfg);
  std::vector<result_ptr> big;
  for (int i = 0; i < 1000; ++i) {
    big.push_back(make_result("http://h/big/" + std::to_string(i), 200, std::string(4000, 'y')));
  }
  std::string message;
  {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    getrlimit(RLIMIT_FSIZE, &old);
    rlimit lim = old;
    lim.rlim_cur = 256 * 1024;
    setrlimit(RLIMIT_FSIZE, &lim);
    try {
      f.run(s2->write(big));
      f.run(s2->close());
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &old);
  }
  CHECK(message.find("failed after 2 attempts") != std::string::npos);
  CHECK(message.find(p.string()) != std::string::npos);
  s2.reset();
  reader r(p);
  CHECK(r.text("PRAGMA integrity_check") == "ok");
  CHECK(r.count() == 10);  // all of the first batch, none of the failed one
}

TEST_CASE("sqlite.schema.documented_columns") {
  std::string schema = sqlite_schema("results");
  for (const char* c : {"url", "final_url", "ok", "status", "error_kind", "error_message",
                        "attempts", "redirects", "bytes", "content_type", "headers", "body",
                        "body_path", "total_ms", "stored_at", "store_count"}) {
    CHECK_MESSAGE(schema.find(std::string("  ") + c + " ") != std::string::npos, c);
  }
}
