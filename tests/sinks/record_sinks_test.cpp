// The jsonl and csv sinks: content, batching by count and time, torn-tail
// repair on open, and failing writes that are retried and rolled back.
#include <sys/resource.h>

#include <csignal>
#include <fstream>

#include <doctest/doctest.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include "sink_test_util.hpp"
#include "sinks.hpp"
#include "test_support.hpp"

using namespace sluice;
using namespace sluice::stages::sinks;
using namespace sluice::test_sinks;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto nl = s.find('\n', start);
    REQUIRE(nl != std::string::npos);  // every line is terminated
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::vector<result_ptr> numbered(int from, int to) {
  std::vector<result_ptr> v;
  for (int i = from; i < to; ++i) {
    v.push_back(make_result("http://h/item/" + std::to_string(i), 200, "b"));
  }
  return v;
}

// Lowers the file size limit (a stand-in for a full disk: writes past it
// fail with EFBIG) and restores it on destruction.
struct file_size_limit {
  rlimit old{};
  explicit file_size_limit(rlim_t bytes) {
    std::signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    set(bytes);
  }
  void set(rlim_t bytes) {
    rlimit r = old;
    r.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &r) == 0);
  }
  void lift() { setrlimit(RLIMIT_FSIZE, &old); }
  ~file_size_limit() { lift(); }
};

// Appends (the torn-tail and retry tests reopen the file), one record a write.
jsonl_config jsonl_at(const fs::path& p) {
  return {.path = p, .append = true, .batch = {.records = 1}, .retry = quick_retries()};
}

}  // namespace

TEST_CASE("jsonl.write.one_valid_object_per_line") {
  test::temp_dir d("sluice-jsonl-content");
  context_fixture f("jsonl");
  auto cfg = jsonl_at(d.path() / "sub/out.jsonl");
  cfg.json.include_body = true;
  auto s = make_jsonl_sink(f.ctx, cfg);
  auto bad = std::make_shared<result>(*make_result("http://h/\xff\xfe", 0, "", "timeout"));
  auto bin = make_result("http://h/bin", 200, std::string("\x00\x01\xff", 3));
  auto text = make_result("http://h/text", 200, "line1\nline2 \"q\"");
  f.run(s->write({bad, bin, text}));
  f.run(s->close());
  auto lines = lines_of(test::read_file(d.path() / "sub/out.jsonl"));
  REQUIRE(lines.size() == 3);
  auto o0 = boost::json::parse(lines[0]).as_object();
  CHECK(o0.at("ok").as_bool() == false);
  CHECK(o0.at("error_kind").as_string() == "timeout");
  CHECK(o0.at("url").as_string() == "http://h/\xEF\xBF\xBD\xEF\xBF\xBD");
  auto o1 = boost::json::parse(lines[1]).as_object();
  CHECK(o1.at("body_base64").as_string() == "AAH/");
  auto o2 = boost::json::parse(lines[2]).as_object();
  CHECK(o2.at("body").as_string() == "line1\nline2 \"q\"");
  CHECK(o2.at("status").as_int64() == 200);
  CHECK(o2.contains("total_ms"));
  CHECK(o2.contains("stored_at"));
}

TEST_CASE("jsonl.open.truncates_a_torn_last_line") {
  test::temp_dir d("sluice-jsonl-torn");
  fs::path p = d.path() / "out.jsonl";
  {
    std::ofstream out(p, std::ios::binary);
    out << "{\"url\":\"a\"}\n{\"url\":\"b\"}\n{\"url\":\"c\",\"sta";
  }
  context_fixture f("jsonl");
  auto s = make_jsonl_sink(f.ctx, jsonl_at(p));
  CHECK(test::read_file(p) == "{\"url\":\"a\"}\n{\"url\":\"b\"}\n");
  REQUIRE(f.logs->size() == 1);
  CHECK(f.logs->front().find("torn") != std::string::npos);
  f.run(s->write(numbered(0, 3)));
  f.run(s->close());
  auto lines = lines_of(test::read_file(p));
  CHECK(lines.size() == 5);
  for (const auto& l : lines) {
    CHECK_NOTHROW(boost::json::parse(l));
  }

  SUBCASE("a file that is one torn line becomes empty") {
    { std::ofstream(p, std::ios::binary) << "{\"half"; }
    auto s2 = make_jsonl_sink(f.ctx, jsonl_at(p));
    CHECK(fs::file_size(p) == 0);
  }
  SUBCASE("a long torn line past one read chunk") {
    {
      std::ofstream out(p, std::ios::binary);
      out << "{\"ok\":1}\n" << std::string(200000, 'x');
    }
    auto s2 = make_jsonl_sink(f.ctx, jsonl_at(p));
    CHECK(test::read_file(p) == "{\"ok\":1}\n");
  }
}

TEST_CASE("jsonl.batching.by_count_and_by_time") {
  test::temp_dir d("sluice-jsonl-batch");
  fs::path p = d.path() / "out.jsonl";
  context_fixture f("jsonl");
  auto s = make_jsonl_sink(
      f.ctx, {.path = p, .batch = {.records = 3, .interval = std::chrono::milliseconds(50)}});
  check_batches_by_count_and_time(f, *s, [&] { return lines_of(test::read_file(p)).size(); });
}

TEST_CASE("jsonl.errors.disk_full_rolls_back_and_stops") {
  test::temp_dir d("sluice-jsonl-full");
  fs::path p = d.path() / "out.jsonl";
  context_fixture f("jsonl");
  auto s = make_jsonl_sink(f.ctx, jsonl_at(p));
  f.run(s->write(numbered(0, 5)));
  std::string before = test::read_file(p);
  REQUIRE(lines_of(before).size() == 5);
  auto cfg = jsonl_at(p);
  {
    file_size_limit limit(before.size() + 100);  // room for part of one line only
    std::vector<result_ptr> big;
    for (int i = 0; i < 20; ++i) {
      big.push_back(make_result("http://h/big/" + std::to_string(i), 200, ""));
    }
    std::string message;
    try {
      f.run(s->write(big));
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    CHECK(message.find("failed after 2 attempts") != std::string::npos);
    CHECK(message.find(p.string()) != std::string::npos);
    CHECK(message.find("too large") != std::string::npos);  // EFBIG's text
  }
  // Nothing written before was lost, and no partial line was left behind.
  CHECK(test::read_file(p) == before);
  CHECK(f.logs->size() == 1);  // one warning before the retry
}

TEST_CASE("jsonl.errors.retry_succeeds_when_space_returns") {
  test::temp_dir d("sluice-jsonl-retry");
  fs::path p = d.path() / "out.jsonl";
  context_fixture f("jsonl");
  auto cfg = jsonl_at(p);
  cfg.retry.attempts = 10;
  cfg.retry.backoff = std::chrono::milliseconds(20);
  auto s = make_jsonl_sink(f.ctx, cfg);
  file_size_limit limit(50);
  // "Free some space" while the sink is waiting to retry.
  boost::asio::steady_timer later(f.io, std::chrono::milliseconds(60));
  later.async_wait([&](auto) { limit.lift(); });
  f.run(s->write(numbered(0, 10)));
  f.run(s->close());
  auto lines = lines_of(test::read_file(p));
  CHECK(lines.size() == 10);  // each exactly once
  CHECK(f.logs->size() >= 1);
}

TEST_CASE("jsonl.errors.dev_full") {
  context_fixture f("jsonl");
  auto s = make_jsonl_sink(f.ctx, jsonl_at("/dev/full"));
  CHECK_THROWS_WITH_AS(f.run(s->write(numbered(0, 1))),
                       doctest::Contains("No space left on device"), std::runtime_error);
}

TEST_CASE("csv.quoting.rfc4180") {
  CHECK(csv_field("plain") == "plain");
  CHECK(csv_field("") == "");
  CHECK(csv_field("a,b") == "\"a,b\"");
  CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_field("two\nlines") == "\"two\nlines\"");
  CHECK(csv_field("cr\r") == "\"cr\r\"");
  CHECK(csv_field(" spaced ") == " spaced ");
}

TEST_CASE("csv.write.header_records_and_repair") {
  test::temp_dir d("sluice-csv");
  fs::path p = d.path() / "out.csv";
  context_fixture f("csv");
  csv_config cfg;
  cfg.path = p;
  cfg.append = true;  // reopened below to repair a torn record
  cfg.columns = {"url", "status", "ok", "error_message"};
  cfg.batch.records = 1;
  {
    auto s = make_csv_sink(f.ctx, cfg);
    auto r = std::make_shared<result>(*make_result("http://h/a,b", 0, "", "connect"));
    r->error_message = "refused \"now\"\nagain";
    f.run(s->write({make_result("http://h/x", 200), r}));
    f.run(s->close());
  }
  std::string expect =
      "url,status,ok,error_message\r\n"
      "http://h/x,200,true,\r\n"
      "\"http://h/a,b\",0,false,\"refused \"\"now\"\"\nagain\"\r\n";
  CHECK(test::read_file(p) == expect);
  // A torn record whose quoted field holds a line break is cut whole.
  { std::ofstream(p, std::ios::binary | std::ios::app) << "http://h/t,200,true,\"half\nopen"; }
  {
    auto s = make_csv_sink(f.ctx, cfg);  // no second header: the file is not empty
    f.run(s->write({make_result("http://h/y", 404)}));
    f.run(s->close());
  }
  CHECK(test::read_file(p) == expect + "http://h/y,404,true,\r\n");
}

TEST_CASE("csv.complete_prefix.quotes") {
  CHECK(complete_prefix("a,b\r\nc", record_format::csv) == 5);
  CHECK(complete_prefix("\"a\nb\"\r\n\"c\n", record_format::csv) == 7);
  CHECK(complete_prefix("\"\"\"\"\n", record_format::csv) == 5);
  CHECK(complete_prefix("abc", record_format::lines) == 0);
  CHECK(complete_prefix("a\nb", record_format::lines) == 2);
}
