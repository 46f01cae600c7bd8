// Config loading: diagnostics with line:column, did-you-mean, types, ranges,
// durations and sizes, overrides, interpolation, hostile documents.
#include "sluice/config/config.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>

#include <fmt/core.h>

#include "sluice/stages/builtin.hpp"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct fixture {
  registry reg;
  fixture() { register_builtin_stages(reg); }
  load_result load(const std::string& text, load_options opts = {}) {
    return load_pipeline_text(text, "p.yaml", reg, opts);
  }
};

const char* good = R"(name: t
threads: 2
producers:
  - type: range
    url: "http://127.0.0.1/{i:04}"
    from: 0
    to: 10
queue:
  capacity: 16
consumers:
  type: sleep
  workers: 3
  delay: 1ms..2ms
sinks:
  - type: null
)";

bool has(const load_result& r, int line, int col, const std::string& needle) {
  for (const auto& d : r.diagnostics) {
    if (d.line == line && d.column == col &&
        format_diagnostic(d).find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string all(const load_result& r) {
  std::string s;
  for (const auto& d : r.diagnostics) {
    s += format_diagnostic(d) + "\n";
  }
  return s;
}

}  // namespace

TEST_CASE("config.parse_duration.units") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("2s") == 2s);
  CHECK(parse_duration("1.5m") == 90s);
  CHECK(parse_duration("100us") == 100us);
  CHECK(parse_duration("0") == 0ns);
  CHECK_FALSE(parse_duration("5"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("ms"));
  CHECK_FALSE(parse_duration("5 parsecs"));
  auto r = parse_duration_range("1ms..5ms");
  REQUIRE(r);
  CHECK(r->low == 1ms);
  CHECK(r->high == 5ms);
  CHECK_FALSE(parse_duration_range("5ms..1ms"));
}

TEST_CASE("config.split_range.ends") {
  using sv = std::pair<std::string_view, std::string_view>;
  CHECK(split_range("1ms..5ms") == sv{"1ms", "5ms"});
  CHECK(split_range("5") == sv{"5", "5"});
  CHECK(split_range("..3") == sv{"", "3"});
  CHECK(split_range("1..2..3") == sv{"1", "2..3"});
}

TEST_CASE("config.parse_size.units") {
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("64KiB") == 65536u);
  CHECK(parse_size("32MiB") == 32u * 1024 * 1024);
  CHECK(parse_size("1GB") == 1000000000u);
  CHECK_FALSE(parse_size("12XB"));
  CHECK_FALSE(parse_size("-1"));
}

TEST_CASE("config.default_of.reads_back") {
  CHECK(default_of(true) == "true");
  CHECK(default_of(false) == "false");
  CHECK(default_of(500) == "500");
  CHECK(default_of(std::uint16_t{0}) == "0");
  CHECK(default_of(1.0) == "1.0");
  CHECK(default_of(0.25) == "0.25");
  CHECK(default_of("results") == "results");
  CHECK(default_of(std::string("127.0.0.1")) == "127.0.0.1");
  CHECK(default_of(200ms) == "200ms");
  CHECK(default_of(60000ms) == "60s");
  CHECK(default_of(1500us) == "1500us");
  CHECK(default_of(0ns) == "0");
  CHECK(default_of_size(1 << 20) == "1MiB");
  CHECK(default_of_size(64 * 1024) == "64KiB");
  CHECK(default_of_size(1000) == "1000");
  CHECK(default_of_size(0) == "0");
  for (std::chrono::nanoseconds d : {0ns, 7ns, 1500000ns, 200000000ns, 1000000000ns}) {
    CHECK(parse_duration(default_of(d)) == d);
  }
  for (std::uint64_t b : {0ULL, 512ULL, 65536ULL, 3ULL << 30, 1000001ULL}) {
    CHECK(parse_size(default_of_size(b)) == b);
  }
}

TEST_CASE("config.schema_helpers") {
  auto r = required_option("path", option_type::string, "the file");
  CHECK(r.required);
  CHECK(r.default_value.empty());
  auto c = choice_option("mode", "a", {"a", "b"}, "doc");
  CHECK(c.type == option_type::string);
  CHECK(c.default_value == "a");
  CHECK(c.choices == std::vector<std::string>{"a", "b"});
  auto b = bounded_option(make_option("n", option_type::integer, "1", "doc"), 1, 10);
  CHECK(b.minimum == 1);
  CHECK(b.maximum == 10);
  CHECK_FALSE(bounded_option(b, 0).maximum);
  auto o = object_option("retry", "doc", {b});
  CHECK(o.type == option_type::object);
  REQUIRE(o.fields.size() == 1);
  CHECK(o.fields[0].name == "n");
}

TEST_CASE("config.load.valid_pipeline") {
  fixture f;
  auto r = f.load(good);
  INFO(all(r));
  REQUIRE(r.config);
  CHECK(r.config->name == "t");
  CHECK(r.config->threads == 2);
  CHECK(r.config->queue_capacity == 16);
  CHECK(r.config->workers == 3);
  REQUIRE(r.config->producers.size() == 1);
  CHECK(r.config->producers[0].opts.get_int("to") == 10);
  CHECK(r.config->producers[0].opts.get_int("step") == 1);  // default applied
  CHECK(r.config->consumer.opts.get_duration_range("delay").high == 2ms);
}

TEST_CASE("config.diagnostics.three_mistakes_at_their_positions") {
  fixture f;
  auto r = f.load(R"(name: t
producers:
  - type: rnage
    url: "http://x/{i}"
    to: 10
consumers:
  type: sleep
  workers: 0
sinks:
  - type: jsonl
    pth: out.jsonl
)");
  INFO(all(r));
  CHECK_FALSE(r.config);
  // The missing `path` is reported too (the misspelt key hides it): 4 in all.
  CHECK(has(r, 3, 11, "unknown producer type 'rnage'"));
  CHECK(has(r, 3, 11, "did you mean 'range'?"));
  CHECK(has(r, 8, 12, "'consumers.workers' is out of range"));
  CHECK(has(r, 11, 5, "unknown option 'pth'"));
  CHECK(has(r, 11, 5, "did you mean 'path'?"));
  CHECK(has(r, 10, 5, "missing the required option 'path'"));
  CHECK(r.diagnostics.size() == 4);
}

TEST_CASE("config.diagnostics.types_and_values") {
  fixture f;
  auto r = f.load(R"(threads: lots
producers:
  - type: range
    url: "http://x/{j}"
    to: ten
queue: {capacity: 10, colour: red}
consumers: {type: sleep, delay: soon}
sinks:
  - type: jsonl
    path: [a, b]
    append: perhaps
bogus: 1
)");
  INFO(all(r));
  CHECK(has(r, 1, 10, "'threads' must be an integer"));
  CHECK(has(r, 5, 9, "'producers[0].to' must be an integer"));
  CHECK(has(r, 6, 23, "unknown option 'colour'"));
  CHECK(has(r, 7, 33, "not a duration or range"));
  CHECK(has(r, 10, 11, "must be a string"));
  CHECK(has(r, 11, 13, "must be true or false"));
  CHECK(has(r, 12, 1, "unknown top-level key 'bogus'"));
}

TEST_CASE("config.validate.stage_hook_reports_at_option") {
  fixture f;
  auto r = f.load(R"(producers:
  - type: range
    url: "http://x/{j}"
    to: 10
consumers: {type: sleep}
sinks: [{type: null}]
)");
  INFO(all(r));
  CHECK(has(r, 3, 5, "unknown placeholder '{j}'"));
}

TEST_CASE("config.missing_sections") {
  fixture f;
  auto r = f.load("name: x\n");
  INFO(all(r));
  CHECK(r.diagnostics.size() == 3);
  CHECK(all(r).find("no 'producers'") != std::string::npos);
}

TEST_CASE("config.syntax_error_has_position") {
  fixture f;
  auto r = f.load("producers: [\n  - type: range\n");
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].line > 0);
  CHECK(r.diagnostics[0].message.find("YAML syntax error") != std::string::npos);
}

TEST_CASE("config.overrides.set_values_by_path") {
  fixture f;
  load_options o;
  o.overrides = {"queue.capacity=10", "producers.0.to=3", "consumers.workers=7"};
  auto r = f.load(good, o);
  INFO(all(r));
  REQUIRE(r.config);
  CHECK(r.config->queue_capacity == 10);
  CHECK(r.config->producers[0].opts.get_int("to") == 3);
  CHECK(r.config->workers == 7);

  load_options bad;
  bad.overrides = {"producers.5.to=3", "noequals"};
  auto rb = f.load(good, bad);
  CHECK(rb.diagnostics.size() == 2);
}

TEST_CASE("config.interpolation.env_defaults_and_errors") {
  fixture f;
  ::setenv("SLUICE_TEST_HOST", "10.0.0.1", 1);
  std::string text = good;
  text.replace(text.find("127.0.0.1"), 9, "${SLUICE_TEST_HOST}");
  auto r = f.load(text);
  REQUIRE(r.config);
  CHECK(r.config->producers[0].opts.get_string("url") == "http://10.0.0.1/{i:04}");

  std::string with_default = good;
  with_default.replace(with_default.find("127.0.0.1"), 9, "${SLUICE_TEST_UNSET_X:-example.org}");
  auto rd = f.load(with_default);
  REQUIRE(rd.config);
  CHECK(rd.config->producers[0].opts.get_string("url") == "http://example.org/{i:04}");

  std::string missing = good;
  missing.replace(missing.find("127.0.0.1"), 9, "${SLUICE_TEST_UNSET_Y}");
  auto rm = f.load(missing);
  CHECK(has(rm, 5, 10, "undefined variable 'SLUICE_TEST_UNSET_Y'"));
}

TEST_CASE("config.hostile.billion_laughs_rejected_quickly") {
  fixture f;
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    text += fmt::format("{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n", c, c, prev,
                        prev, prev, prev, prev, prev, prev, prev, prev, prev);
    prev = c;
  }
  text += "producers: *j\n";
  auto r = f.load(text);
  REQUIRE_FALSE(r.config);
  CHECK(all(r).find("alias bomb") != std::string::npos);
}

TEST_CASE("config.hostile.deep_nesting_rejected") {
  fixture f;
  std::string text = "producers: " + std::string(10000, '[') + std::string(10000, ']') + "\n";
  auto r = f.load(text);
  REQUIRE_FALSE(r.config);
  CHECK(all(r).find("nested too deeply") != std::string::npos);

  std::string block = "producers:\n";
  for (int i = 0; i < 100; ++i) {
    block += std::string(static_cast<std::size_t>(2 * i + 2), ' ') + "- \n";
  }
  auto rb = f.load(block);
  REQUIRE_FALSE(rb.config);
}

TEST_CASE("config.did_you_mean") {
  CHECK(did_you_mean("rnage", {"range", "list", "file"}) == "range");
  CHECK(did_you_mean("capcity", {"capacity"}) == "capacity");
  CHECK_FALSE(did_you_mean("zzzzzz", {"range", "list"}));
}

TEST_CASE("config.when.bad_filter_reported_at_load") {
  fixture f;
  auto r = f.load(R"(producers: [{type: list, urls: [a]}]
consumers: {type: sleep}
sinks:
  - type: "null"
    when: "status >= "
)");
  INFO(all(r));
  REQUIRE_FALSE(r.config);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].line == 5);
  CHECK(r.diagnostics[0].message.find("bad 'when' filter") != std::string::npos);
}
