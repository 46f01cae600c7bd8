// Plugins through the `sluice` program: every load error reported at the
// line:column of its `plugins:` entry, `--plugin`, `sluice stages`, plugin
// stages validated and run like built-ins.
#include "sluice/plugin/plugin.hpp"

#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "broken_plugins.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sluice::test::run_process;
using sluice::test::sluice_bin;

namespace {

/// A pipeline whose `plugins:` list is `plugin_entries` (the first entry is on
/// line 3, column 5), followed by `stages` or a valid pipeline of built-ins.
std::string pipeline(const std::string& plugin_entries, const std::string& stages = {}) {
  return "name: plugin-cli-test\n"
         "plugins:\n" +
         plugin_entries +
         (stages.empty() ? "producers:\n"
                           "  - type: range\n"
                           "    url: \"http://127.0.0.1:9/{i}\"\n"
                           "    from: 0\n"
                           "    to: 3\n"
                           "consumers:\n"
                           "  type: sleep\n"
                           "sinks:\n"
                           "  - type: null\n"
                         : stages);
}

struct checked {
  int exit_code;
  std::string err;
};

checked check(const fs::path& yaml) {
  auto r = run_process({sluice_bin(), "check", yaml.string()});
  return {r.exit_code, r.err};
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("plugin.cli.load_errors_at_the_plugins_entry") {
  sluice::test::temp_dir dir;
  const auto yaml = dir / "p.yaml";
  std::string entry;
  std::string expected;

  SUBCASE("file missing (resolved against the pipeline's directory)") {
    entry = "missing/libnothing.so";
    expected = "plugin file not found: " + (dir.path() / "missing/libnothing.so").string();
  }
  SUBCASE("not a shared library") {
    sluice::test::write_file(dir / "libtext.so", "just text\n");
    entry = "libtext.so";
    expected =
        "not a shared library: " + fs::canonical(dir / "libtext.so").string() + " (no ELF header)";
  }
  for (const auto& b : sluice::test::broken_plugins()) {
    SUBCASE(b.breaks.c_str()) {
      entry = b.path;
      expected = b.message;
    }
  }

  CAPTURE(entry);
  sluice::test::write_file(yaml, pipeline("  - " + entry + "\n"));
  const auto r = check(yaml);
  CHECK(r.exit_code == 2);
  const std::string at = yaml.string() + ":3:5: error: ";
  CHECK_MESSAGE(contains(r.err, at), r.err);
  CHECK_MESSAGE(contains(r.err, expected), r.err);
}

TEST_CASE("plugin.cli.error_column_of_a_flow_list_entry") {
  sluice::test::temp_dir dir;
  const auto yaml = dir / "p.yaml";
  // `plugins: [lib/libgood.so, lib/libgone.so]` on line 2: the second entry
  // starts at column 27.
  fs::create_directories(dir / "lib");
  fs::copy_file(SLUICE_PLUGIN_GOOD, dir / "lib/libgood.so");
  sluice::test::write_file(yaml,
                           "name: flow\n"
                           "plugins: [lib/libgood.so, lib/libgone.so]\n"
                           "producers:\n"
                           "  - type: ticker\n"
                           "consumers:\n"
                           "  type: sleep\n"
                           "sinks:\n"
                           "  - type: tally\n");
  const auto r = check(yaml);
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(contains(r.err, yaml.string() + ":2:27: error: plugin file not found: " +
                                    (dir.path() / "lib/libgone.so").string()),
                r.err);
  // The good plugin before it loaded: its stages validated.
  CHECK_FALSE(contains(r.err, "ticker"));
}

TEST_CASE("plugin.cli.plugin_stages_validate_and_run_like_builtins") {
  sluice::test::temp_dir dir;
  fs::create_directories(dir / "lib");
  fs::copy_file(SLUICE_PLUGIN_GOOD, dir / "lib/libgood.so");
  const auto yaml = dir / "p.yaml";
  const std::string stages =
      "producers:\n"
      "  - type: ticker\n"
      "    count: 5\n"
      "    interval: 1ms\n"
      "consumers:\n"
      "  type: sleep\n"
      "  workers: 2\n"
      "sinks:\n"
      "  - type: tally\n"
      "  - type: jsonl\n"
      "    path: out.jsonl\n";

  SUBCASE("a relative entry resolves against the pipeline file, and the pipeline runs") {
    sluice::test::write_file(yaml, pipeline("  - lib/libgood.so\n", stages));
    const auto r = run_process({sluice_bin(), "run", "-q", yaml.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string out = sluice::test::read_file(dir / "out.jsonl");
    for (int i = 0; i < 5; ++i) {
      CHECK_MESSAGE(contains(out, "tick://" + std::to_string(i) + "?on_strand=1"), out);
    }
  }
  SUBCASE("options of plugin stages are checked against their schema") {
    std::string bad = stages;
    bad.replace(bad.find("count: 5"), 8, "cuont: 5");
    sluice::test::write_file(yaml, pipeline("  - lib/libgood.so\n", bad));
    const auto r = check(yaml);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(contains(r.err, yaml.string() + ":6:5: error: "), r.err);
    CHECK_MESSAGE(contains(r.err, "cuont"), r.err);
    CHECK_MESSAGE(contains(r.err, "count"), r.err);
  }
  SUBCASE("--plugin and plugins: naming the same library load it once") {
    sluice::test::write_file(yaml, pipeline("  - lib/libgood.so\n", stages));
    const auto r = run_process(
        {sluice_bin(), "--plugin", (dir / "lib/libgood.so").string(), "check", yaml.string()});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
  }
}

TEST_CASE("plugin.cli.plugin_flag") {
  SUBCASE("sluice stages lists the plugin's stages and their origin") {
    const auto r = run_process({sluice_bin(), "--plugin", SLUICE_PLUGIN_GOOD, "stages"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string origin = "[plugin " + fs::canonical(SLUICE_PLUGIN_GOOD).string() + "]";
    CHECK(contains(r.out, "ticker"));
    CHECK(contains(r.out, "tally"));
    CHECK(contains(r.out, origin));
    CHECK(contains(r.out, "range"));  // the built-ins are still there
  }
  SUBCASE("sluice stages NAME shows a plugin stage's options") {
    const auto r = run_process({sluice_bin(), "stages", "ticker", "--plugin", SLUICE_PLUGIN_GOOD});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(contains(r.out, "count"));
    CHECK(contains(r.out, "interval"));
    CHECK(contains(r.out, "duration"));
    CHECK(contains(r.out, "wait before each item"));
  }
  SUBCASE("without the plugin the stage is unknown") {
    const auto r = run_process({sluice_bin(), "stages", "ticker"});
    CHECK(r.exit_code != 0);
  }
  SUBCASE("a failing --plugin stops with exit code 2 and the loader's message") {
    const auto r = run_process({sluice_bin(), "--plugin", SLUICE_PLUGIN_BAD_ABI, "stages"});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(contains(r.err, "--plugin"), r.err);
    CHECK_MESSAGE(contains(r.err, "was built for ABI 'gcc-4.8;"), r.err);
  }
  SUBCASE("a missing --plugin") {
    const auto r = run_process({sluice_bin(), "--plugin", "/nonexistent/libx.so", "stages"});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(contains(r.err, "plugin file not found: /nonexistent/libx.so"), r.err);
  }
}
