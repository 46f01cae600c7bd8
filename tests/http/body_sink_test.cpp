// The body sink on its own: memory up to memory_body, then a temporary file
// (the bytes in memory moved in first), max_decoded, a directory it cannot
// write, and discard removing what a retry or redirect leaves behind.
#include "body_sink.hpp"

#include <doctest/doctest.h>

#include "test_support.hpp"

namespace hd = sluice::stages::http;
namespace fs = std::filesystem;

namespace {

std::size_t files_in(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), {}));
}

/// A sink's surroundings: a temporary directory for its files and a result.
struct sink_fixture {
  sluice::test::temp_dir dir;
  hd::temp_files files{dir.path()};
  sluice::result r;
};

}  // namespace

TEST_CASE_FIXTURE(sink_fixture, "http.body_sink.memory_then_file") {
  {
    hd::body_sink sink(r, {.max_decoded = 1000, .memory_body = 10, .keep = true}, files, 3);
    CHECK_FALSE(sink.append("hello", 5));
    CHECK(r.body == "hello");
    CHECK(files_in(dir.path()) == 0);
    CHECK_FALSE(sink.append(" world", 6));  // 11 > 10: spilled, memory part first
    CHECK(r.body.empty());
    CHECK(files_in(dir.path()) == 1);
    CHECK_FALSE(sink.finish());
    CHECK(r.bytes == 11);
    REQUIRE_FALSE(r.body_file.empty());
    CHECK(fs::path(r.body_file).parent_path() == dir.path());
    CHECK(fs::path(r.body_file).filename().string().find("-3-") != std::string::npos);
    CHECK(sluice::test::read_file(r.body_file) == "hello world");
  }
  // The finished file belongs to the result: the sink's end leaves it.
  CHECK(fs::exists(r.body_file));
}

TEST_CASE_FIXTURE(sink_fixture, "http.body_sink.max_decoded_and_counting_only") {
  hd::body_sink sink(r, {.max_decoded = 8, .memory_body = 4, .keep = false}, files, 0);
  CHECK_FALSE(sink.append("12345678", 8));
  CHECK(r.bytes == 8);
  CHECK(r.body.empty());  // counted, not kept
  CHECK(files_in(dir.path()) == 0);
  auto over = sink.append("9", 1);
  REQUIRE(over);
  CHECK(over->kind == sluice::fetch_errc::body_limit);
  CHECK(over->message.find("max_decoded (8 bytes)") != std::string::npos);
}

TEST_CASE("http.body_sink.unwritable_directory_fails_the_item") {
  // A directory that does not exist (root writes into any existing one).
  sluice::test::temp_dir dir;
  hd::temp_files files(dir / "missing");
  sluice::result r;
  hd::body_sink sink(r, {.max_decoded = 1000, .memory_body = 2, .keep = true}, files, 0);
  auto f = sink.append("abcdef", 6);
  REQUIRE(f);
  CHECK(f->kind == sluice::fetch_errc::body_file);
  CHECK(f->message.find("cannot create") != std::string::npos);
}

TEST_CASE_FIXTURE(sink_fixture, "http.body_sink.discard_removes_open_and_finished_files") {
  hd::body_sink sink(r, {.max_decoded = 1000, .memory_body = 2, .keep = true}, files, 0);
  r.status = 301;
  r.content_type = "text/html";
  CHECK_FALSE(sink.append("abcdef", 6));
  CHECK(files_in(dir.path()) == 1);
  sink.discard();  // open file
  CHECK(files_in(dir.path()) == 0);
  CHECK(r.status == 0);
  CHECK(r.bytes == 0);
  CHECK(r.content_type.empty());
  CHECK_FALSE(sink.append("abcdef", 6));
  CHECK_FALSE(sink.finish());
  CHECK(files_in(dir.path()) == 1);
  sink.discard();  // finished file of a response not kept
  CHECK(files_in(dir.path()) == 0);
  CHECK(r.body_file.empty());
}

TEST_CASE_FIXTURE(sink_fixture, "http.body_sink.reserves_a_known_length_that_stays_in_memory") {
  hd::body_sink sink(r, {.max_decoded = 1 << 20, .memory_body = 1000, .keep = true}, files, 0);
  sink.expect(5000);  // will go to a file: no memory reserved for it
  CHECK(r.body.capacity() < 5000);
  sink.expect(500);
  CHECK(r.body.capacity() >= 500);
}
