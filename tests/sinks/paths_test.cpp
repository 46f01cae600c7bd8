// Path safety of the files sink: hostile URLs never write outside the output
// directory, never leave a temp file under a final name, and each body lands
// exactly where the layout says.
#include <doctest/doctest.h>

#include <set>

#include "body_store.hpp"
#include "sink_test_util.hpp"
#include "sinks.hpp"
#include "test_support.hpp"

using namespace sluice;
using namespace sluice::stages::sinks;
using namespace sluice::test_sinks;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> hostile_urls() {
  std::vector<std::string> v = {
      "http://h/../../etc/passwd",
      "http://h/%2e%2e/%2e%2e/etc/passwd",
      "http://h/%2E%2E%2F%2E%2E%2Fescape",
      "http://h/..%2f..%2f..%2fescape",
      "http://h//etc/passwd",
      "http://h///abs/olute",
      "http://h/a/./b/../../..",
      "http://h/..%5c..%5cwindows",
      "http://h/a\\..\\..\\b",
      "http://h/%00nul",
      "http://h/%252e%252e/double",
      "http://h/?q=../../x",
      "http://h/dir/?a=/b/../../c",
      "http://h/.",
      "http://h/..",
      "http://h/%2e",
      "http://../x",
      "http://%2e%2e/x",
      "http://./x",
      "http://h:8080/x",
      "http://[::1]:8080/v6",
      "file:///etc/passwd",
      "/etc/passwd",
      "../../x",
      "..",
      "",
      "http://h/a/b",
      "http://h/a",  // a file where a/b needed a directory: collision
      "http://h/a/b/c",
      "http://h/a%2Fb",
      "http://h/seg%0Aline",
      "http://h/\x1b[31mred",
      "http://h/utf8/%C3%A9t%C3%A9",
      "http://h/" + std::string(5000, 'a'),
      "http://h/" + std::string(300, 'b') + "/" + std::string(300, 'c'),
      "http://h/%" + std::string(400, '2'),
  };
  std::string deep = "http://h/";
  for (int i = 0; i < 1000; ++i) {
    deep += "d/";
  }
  v.push_back(deep + "leaf");
  std::string long_escapes = "http://h/";
  for (int i = 0; i < 300; ++i) {
    long_escapes += "%2e%2e%2f";
  }
  v.push_back(long_escapes);
  v.push_back(std::string("http://h/nul\0byte/../..", 23));
  v.push_back(std::string("http://h/\0", 10));
  return v;
}

// Every regular file and directory under `root`, as canonical paths.
std::vector<fs::path> walk(const fs::path& root) {
  std::vector<fs::path> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    CHECK_FALSE(it->is_symlink());
    out.push_back(fs::weakly_canonical(it->path()));
  }
  return out;
}

bool inside(const fs::path& p, const fs::path& dir) {
  auto rel = p.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

TEST_CASE("files.paths.is_safe_relative") {
  CHECK(is_safe_relative("a/b"));
  CHECK_FALSE(is_safe_relative(""));
  CHECK_FALSE(is_safe_relative("/a"));
  CHECK_FALSE(is_safe_relative("a/../b"));
  CHECK_FALSE(is_safe_relative("./a"));
  CHECK_FALSE(is_safe_relative("a//b"));
  CHECK_FALSE(is_safe_relative("a\\b"));
  CHECK_FALSE(is_safe_relative(fs::path(std::string("a\0b", 3))));
  CHECK_FALSE(is_safe_relative(std::string(256, 'x')));
}

TEST_CASE("files.paths.layouts") {
  std::string h = sha256_hex("http://example.com/x");
  CHECK(h.size() == 64);
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hash_path("http://example.com/x") == fs::path("example.com") / h.substr(0, 2) / h);
  CHECK(hash_path("http://Example.COM:8080/x").begin()->string() == "example.com_8080");
  CHECK(hash_path("not a url").begin()->string() == "_invalid");

  CHECK(readable_path("http://h/a/b.html") == "h/a/b.html");
  CHECK(readable_path("http://h/") == "h/index.html");
  CHECK(readable_path("http://h") == "h/index.html");
  CHECK(readable_path("http://h/dir/") == "h/dir/index.html");
  CHECK(readable_path("http://h/a?x=1") == "h/a?x=1");
  CHECK(readable_path("http://h/%2e%2e/x") == "h/%2E%2E/x");
  CHECK(readable_path("http://h/../x") == "h/%2E%2E/x");
  CHECK(readable_path("http://h/a%2Fb") == "h/a%2Fb");
  CHECK(readable_path("http://h/a%252Fb") == "h/a%252Fb");  // decoded once only
  CHECK(readable_path("http://h/%00") == "h/%00");
  CHECK(readable_path("http://h//a//b") == "h/a/b");
  CHECK(readable_path("http://h/%C3%A9") == "h/\xC3\xA9");
  auto longp = readable_path("http://h/" + std::string(5000, 'a'));
  CHECK(is_safe_relative(longp));
  CHECK(longp.filename().string().size() <= 200);
  std::string deep = "http://h/";
  for (int i = 0; i < 100; ++i) {
    deep += "d/";
  }
  CHECK(readable_path(deep + "x").empty());  // too deep: the caller falls back
}

TEST_CASE("files.paths.hostile_urls_stay_inside") {
  test::temp_dir root("sluice-paths");
  fs::path out = root.path() / "out";
  fs::create_directories(root.path() / "outside");
  for (auto layout : {body_layout::hash, body_layout::path}) {
    CAPTURE(static_cast<int>(layout));
    fs::path dir = out / (layout == body_layout::hash ? "hash" : "path");
    context_fixture f("files");
    files_config cfg;
    cfg.store.dir = dir;
    cfg.store.layout = layout;
    cfg.retry.attempts = 1;
    auto s = make_files_sink(f.ctx, cfg);
    std::vector<result_ptr> batch;
    auto urls = hostile_urls();
    for (std::size_t i = 0; i < urls.size(); ++i) {
      batch.push_back(make_result(urls[i], 200, "body " + std::to_string(i)));
    }
    f.run(s->write(batch));
    f.run(s->close());

    // Nothing outside; only the scratch root's own two folders at the top.
    std::set<std::string> top;
    for (auto& e : fs::directory_iterator(root.path())) {
      top.insert(e.path().filename().string());
    }
    CHECK(top == std::set<std::string>{"out", "outside"});
    CHECK(fs::is_empty(root.path() / "outside"));
    fs::path canon_out = fs::weakly_canonical(out);
    for (const auto& p : walk(out)) {
      CHECK_MESSAGE(inside(p, canon_out), p.string());
    }
    std::set<std::string> bodies;
    std::size_t files = 0;
    fs::path canon_dir = fs::weakly_canonical(dir);
    for (const auto& p : walk(dir)) {
      CHECK_MESSAGE(inside(p, canon_dir), p.string());
      if (fs::is_regular_file(p)) {
        ++files;
        bodies.insert(test::read_file(p));
        CHECK(p.string().find(".sluice-tmp") == std::string::npos);
      }
    }
    // Every body exactly once (distinct URLs, distinct files).
    std::set<std::string> distinct(urls.begin(), urls.end());
    CHECK(files == distinct.size());
    CHECK(bodies.size() == files);
    CHECK(fs::is_empty(dir / ".sluice-tmp"));
  }
}

TEST_CASE("files.paths.collisions_are_kept_apart") {
  test::temp_dir root("sluice-collide");
  context_fixture f("files");
  files_config cfg;
  cfg.store.dir = root.path();
  cfg.store.layout = body_layout::path;
  auto s = make_files_sink(f.ctx, cfg);
  // `//a` and `/a` decode to the same readable name; `/x` then `/x/y`
  // needs a directory where a file is.
  f.run(s->write({make_result("http://h/a", 200, "one"), make_result("http://h//a", 200, "two"),
                  make_result("http://h/x", 200, "file"), make_result("http://h/x/y", 200, "kid"),
                  make_result("http://h/a", 200, "one again")}));
  f.run(s->close());
  CHECK(test::read_file(root.path() / "h/a") ==
        "one again");  // the same URL overwrites its own file
  CHECK(test::read_file(root.path() / "h/x") == "file");
  std::set<std::string> bodies;
  for (auto& e : fs::recursive_directory_iterator(root.path())) {
    if (e.is_regular_file()) {
      bodies.insert(test::read_file(e.path()));
    }
  }
  CHECK(bodies == std::set<std::string>{"one again", "two", "file", "kid"});
  CHECK(fs::exists(root.path() / ".by-hash" / hash_path("http://h/x/y")));
}
