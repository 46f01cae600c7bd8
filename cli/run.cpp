// `sluice run`, `sluice check` and `sluice stages`.
#include <unistd.h>

#include <iostream>

#include <fmt/core.h>
#include <boost/json.hpp>

#include "commands.hpp"
#include "sluice/config/config.hpp"
#include "sluice/core/json_text.hpp"
#include "sluice/runtime/fd_limit.hpp"
#include "sluice/runtime/runtime.hpp"

namespace sluice::cli {

namespace {

struct pipeline_args {
  std::string file;
  std::vector<std::string> overrides;
};

void add_pipeline_args(CLI::App* sub, pipeline_args& a) {
  sub->add_option("file", a.file, "the pipeline file (YAML)")->required()->type_name("FILE");
  sub->add_option("--set", a.overrides,
                  "override a value of the file: key.path=value (lists by index: "
                  "producers.0.to=10); repeatable")
      ->type_name("KEY=VALUE");
}

std::optional<pipeline_config> load(app_state& state, const pipeline_args& a) {
  return load_for_command(state, a.file, a.overrides);
}

}  // namespace

std::optional<pipeline_config> load_for_command(app_state& state, const std::string& file,
                                                const std::vector<std::string>& overrides) {
  load_options lo;
  lo.overrides = overrides;
  lo.load_plugin = [&state](const std::string& path) { return load_plugin_into(*state.reg, path); };
  auto res = load_pipeline(file, *state.reg, lo);
  for (const auto& d : res.diagnostics) {
    fmt::print(stderr, "{}\n", format_diagnostic(d));
  }
  if (!res.diagnostics.empty()) {
    fmt::print(stderr, "{} error{} in {}\n", res.diagnostics.size(),
               res.diagnostics.size() == 1 ? "" : "s", file);
  }
  return std::move(res.config);
}

namespace {

std::string default_text(const option_spec& o) {
  if (o.required) {
    return "required";
  }
  if ((o.type == option_type::object && !o.boolean_shorthand) ||
      o.type == option_type::object_list) {
    return "";
  }
  return o.default_value.empty() ? "-" : o.default_value;
}

void print_options(const option_schema& schema, const std::string& prefix, bool markdown) {
  for (const auto& o : schema) {
    std::string name = prefix + o.name;
    std::string doc = o.doc;
    const char* type = o.boolean_shorthand ? "boolean or object" : to_string(o.type);
    if (!o.choices.empty()) {
      doc += " (one of: " + join_names(o.choices) + ")";
    }
    if (markdown) {
      fmt::print(
          "| `{}` | {} | {} | {} |\n", name, type,
          o.required ? "required" : (o.default_value.empty() ? "" : "`" + o.default_value + "`"),
          doc);
    } else {
      fmt::print("  {:<22} {:<18} {:<10} {}\n", name, type, default_text(o), doc);
    }
    if (o.type == option_type::object) {
      print_options(o.fields, name + ".", markdown);
    }
    if (o.type == option_type::object_list) {
      print_options(o.fields, name + "[].", markdown);
    }
  }
}

int list_stages(const registry& reg, const std::string& name, bool markdown) {
  bool found = false;
  for (auto kind :
       {stage_kind::producer, stage_kind::consumer, stage_kind::sink, stage_kind::service}) {
    for (const auto* info : reg.list(kind)) {
      if (!name.empty() && info->name != name) {
        continue;
      }
      found = true;
      if (name.empty() && !markdown) {
        fmt::print("{:<9} {:<14} {}{}\n", to_string(kind), info->name, info->summary,
                   info->origin == "builtin" ? "" : "  [plugin " + info->origin + "]");
        continue;
      }
      if (markdown) {
        fmt::print("## {} `{}`\n\n{}\n\n", to_string(kind), info->name, info->summary);
        if (!info->schema.empty()) {
          fmt::print("| option | type | default | description |\n|---|---|---|---|\n");
          print_options(info->schema, "", true);
        }
        fmt::print("\n");
      } else {
        fmt::print("{} {}: {}{}\n", to_string(kind), info->name, info->summary,
                   info->origin == "builtin" ? "" : "  [plugin " + info->origin + "]");
        if (kind == stage_kind::consumer) {
          fmt::print("  {:<22} {:<18} {:<10} {}\n", "workers", "integer", "1",
                     "M: concurrent workers (a framework key of every consumer)");
        }
        if (kind == stage_kind::sink) {
          fmt::print("  {:<22} {:<18} {:<10} {}\n", "when", "filter", "-",
                     "only results matching this expression (a framework key of every sink)");
        }
        print_options(info->schema, "", false);
        fmt::print("\n");
      }
    }
  }
  if (!found) {
    std::vector<std::string> names;
    for (const auto* info : reg.all()) {
      names.push_back(info->name);
    }
    auto note = did_you_mean_note(name, names);
    fmt::print(stderr, "sluice: no stage named '{}'{}\n", name, note.empty() ? "" : "; " + note);
    return 2;
  }
  return 0;
}

namespace json = boost::json;

// `sluice schema`: a JSON Schema (draft 2020-12) generated from the same
// option schemas the loader validates with. A `${VAR}` string is allowed
// wherever a scalar is, since it is substituted before validation.
json::value with_variables(json::value v) {
  return json::object{{"anyOf", json::array{std::move(v), json::object{{"type", "string"},
                                                                       {"pattern", "\\$\\{"}}}}};
}

json::value option_json(const option_spec& o) {
  static const std::string dur = "[0-9]+(\\.[0-9]+)? *(ns|us|µs|ms|s|m|min|h)|0";
  json::object t;
  switch (o.type) {
    case option_type::string:
      t = o.choices.empty() ? json::object{{"type", json::array{"string", "number", "boolean"}}}
                            : json::object{{"enum", json::value_from(o.choices)}};
      break;
    case option_type::integer:
      t = {{"type", "integer"}};
      break;
    case option_type::number:
      t = {{"type", "number"}};
      break;
    case option_type::boolean:
      t = {{"type", "boolean"}};
      break;
    case option_type::duration:
      t = {{"anyOf", json::array{json::object{{"type", "string"}, {"pattern", "^(" + dur + ")$"}},
                                 json::object{{"const", 0}}}}};
      break;
    case option_type::duration_range:
      t = {{"anyOf", json::array{json::object{{"type", "string"},
                                              {"pattern", "^(" + dur + ")(\\.\\.(" + dur + "))?$"}},
                                 json::object{{"const", 0}}}}};
      break;
    case option_type::size:
      t = {{"anyOf",
            json::array{
                json::object{{"type", "integer"}, {"minimum", 0}},
                json::object{{"type", "string"},
                             {"pattern", "^[0-9]+(\\.[0-9]+)? *(B|KiB|MiB|GiB|KB|kB|MB|GB)?$"}}}}};
      break;
    case option_type::string_list: {
      json::value item =
          with_variables(json::object{{"type", json::array{"string", "number", "boolean"}}});
      t = {{"anyOf", json::array{json::object{{"type", "array"}, {"items", item}}, item}}};
      break;
    }
    case option_type::string_map:
      t = {{"type", "object"},
           {"additionalProperties",
            with_variables(json::object{{"type", json::array{"string", "number", "boolean"}}})}};
      break;
    case option_type::object: {
      json::object props;
      for (const auto& f : o.fields) {
        props[f.name] = option_json(f);
      }
      t = {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
      if (o.boolean_shorthand) {  // `true`/`false` or the mapping
        t = {{"anyOf", json::array{json::object{{"type", "boolean"}}, std::move(t)}}};
      }
      break;
    }
    case option_type::object_list: {
      json::object props;
      json::array required;
      for (const auto& f : o.fields) {
        props[f.name] = option_json(f);
        if (f.required) {
          required.emplace_back(f.name);
        }
      }
      json::object item{{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
      if (!required.empty()) {
        item["required"] = std::move(required);
      }
      t = {{"type", "array"}, {"items", std::move(item)}};
      break;
    }
  }
  if (o.type == option_type::integer || o.type == option_type::number) {
    if (o.minimum) {
      t["minimum"] = *o.minimum;
    }
    if (o.maximum) {
      t["maximum"] = *o.maximum;
    }
  }
  json::value v = o.type == option_type::object || o.type == option_type::object_list ||
                          o.type == option_type::string_map
                      ? json::value(t)
                      : with_variables(t);
  auto& out = v.as_object();
  if (!o.doc.empty()) {
    out["description"] = o.doc;
  }
  if (!o.default_value.empty()) {
    out["default"] = o.default_value;
  }
  return v;
}

// One stage section: a union discriminated on `type` (if/then per type).
json::value stages_json(const registry& reg, stage_kind kind) {
  json::array names, cases;
  for (const auto* info : reg.list(kind)) {
    names.emplace_back(info->name);
    // YAML reads a bare `type: null` as the null value; the loader takes it
    // for the `null` sink, so the schema does too.
    json::object type_match{{"const", info->name}};
    if (info->name == "null") {
      names.emplace_back(nullptr);
      type_match = json::object{{"enum", json::array{"null", nullptr}}};
    }
    json::object props{{"type", type_match}};
    json::array required{"type"};
    for (const auto& o : info->schema) {
      props[o.name] = option_json(o);
      if (o.required) {
        required.emplace_back(o.name);
      }
    }
    for (const auto& o : framework_stage_options(kind)) {
      props[o.name] = option_json(o);
    }
    cases.emplace_back(json::object{
        {"if", json::object{{"properties", json::object{{"type", type_match}}},
                            {"required", json::array{"type"}}}},
        {"then",
         json::object{
             {"properties", props}, {"required", required}, {"additionalProperties", false}}}});
  }
  return json::object{{"type", "object"},
                      {"required", json::array{"type"}},
                      {"properties", json::object{{"type", json::object{{"enum", names}}}}},
                      {"allOf", cases}};
}

json::value pipeline_json_schema(const registry& reg) {
  json::object props;
  for (const auto& o : pipeline_schema()) {
    props[o.name] = option_json(o);
  }
  auto list_of = [&](stage_kind k) {
    return json::object{{"type", "array"}, {"minItems", 1}, {"items", stages_json(reg, k)}};
  };
  props["producers"] = list_of(stage_kind::producer);
  props["consumers"] = stages_json(reg, stage_kind::consumer);
  props["sinks"] = list_of(stage_kind::sink);
  props["max_failed"] = with_variables(json::object{
      {"anyOf", json::array{json::object{{"type", "integer"}, {"minimum", 0}},
                            json::object{{"type", "string"},
                                         {"pattern", "^([0-9]+|[0-9]+(\\.[0-9]+)?%)$"}}}}});
  props["state"] = json::object{{"type", json::array{"string", "boolean"}}};
  for (const auto* info : reg.list(stage_kind::service)) {
    option_spec svc = object_option(info->name, info->summary, info->schema);
    props[info->name] = option_json(svc);
  }
  return json::object{{"$schema", "https://json-schema.org/draft/2020-12/schema"},
                      {"title", "sluice pipeline"},
                      {"type", "object"},
                      {"required", json::array{"producers", "consumers", "sinks"}},
                      {"properties", props},
                      {"additionalProperties", false}};
}

void add_run_command(CLI::App& app, app_state& state) {
  static pipeline_args run_args;
  static std::string stats_json;
  static bool no_progress = false, quiet = false, no_state = false, fresh = false;
  static std::string state_dir;
  static std::string metrics_listen;
  static std::string timeline;
  static std::size_t timeline_items = 1000;
  auto* run = app.add_subcommand("run", "run a pipeline file");
  run->footer(
      "Examples:\n"
      "  sluice run pipelines/quickstart.yaml\n"
      "  sluice run pipelines/http-fetch.yaml --set consumers.workers=50 --stats-json stats.json\n"
      "  sluice run pipelines/resumable.yaml --fresh     # discard an unfinished run's state\n"
      "Exit codes: 0 ok, 1 a stage failed, 2 config/usage, 3 too many items failed,\n"
      "130/143/129 interrupted (docs/cli.md).");
  add_pipeline_args(run, run_args);
  run->add_option("--stats-json", stats_json, "also write the final report as JSON to FILE")
      ->type_name("FILE");
  run->add_flag("--no-progress", no_progress, "no progress display on stderr");
  run->add_flag("-q,--quiet", quiet, "no progress and no final report on stderr");
  run->add_option("--state", state_dir,
                  "keep the resumable state in DIR (default: the pipeline's state:, else "
                  ".sluice/<name> beside the pipeline file)")
      ->type_name("DIR");
  run->add_flag("--no-state", no_state, "keep no state: nothing resumes after a stop or crash");
  run->add_option("--metrics", metrics_listen,
                  "serve Prometheus metrics at http://ADDR/metrics while the run lasts "
                  "(IP:PORT, port 0: ephemeral; overrides the file's metrics.listen)")
      ->type_name("ADDR");
  run->add_flag("--fresh", fresh, "discard an unfinished run's state and start over");
  run->add_option("--timeline", timeline,
                  "after the run, write a per-worker timeline of its first items as SVG to "
                  "FILE, or print it as text on stderr with -")
      ->type_name("FILE|-");
  run->add_option("--timeline-items", timeline_items,
                  "how many items (the first to finish) the timeline records")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  run->callback([&state] {
    auto cfg = load(state, run_args);
    if (!cfg) {
      state.exit_code = 2;
      return;
    }
    if (!metrics_listen.empty()) {
      cfg->metrics.listen = metrics_listen;
    }
    run_options ro;
    ro.progress = !no_progress && !quiet;
    ro.state = !no_state;
    ro.fresh = fresh;
    if (!state_dir.empty()) {
      ro.state_dir = state_dir;
    }
    if (!stats_json.empty()) {
      ro.stats_json = stats_json;
    }
    ro.timeline_items = timeline.empty() ? 0 : timeline_items;
    // Every worker's connection is a descriptor: the soft limit goes up to
    // the hard one, and a word when even that is too few.
    if (auto w = descriptor_warning(cfg->workers, raise_descriptor_limit()); !w.empty()) {
      fmt::print(stderr, "sluice: {}\n", w);
    }
    auto report = run_pipeline(*cfg, ro);
    if (report.exit_code == 2) {
      fmt::print(stderr, "{}\n", report.stage_error);
      state.exit_code = 2;
      return;
    }
    if (!timeline.empty() && !write_run_timeline(report, timeline) && report.exit_code == 0) {
      report.exit_code = 1;
    }
    if (!quiet || report.exit_code != 0) {
      fmt::print(stderr, "{}", report.to_text());
    } else if (report.failed > 0) {
      // Quiet, and within max_failed: one line, so failures are never silent.
      fmt::print(stderr, "{}\n", report.failure_line());
    }
    state.exit_code = report.exit_code;
  });
}

void add_check_command(CLI::App& app, app_state& state) {
  static pipeline_args check_args;
  auto* check = app.add_subcommand("check", "validate a pipeline file without running it");
  check->footer(
      "Example:\n"
      "  sluice check pipelines/http-polite.yaml    # every problem at once, file:line:col; exit "
      "2");
  add_pipeline_args(check, check_args);
  check->callback([&state] {
    auto cfg = load(state, check_args);
    if (!cfg) {
      state.exit_code = 2;
      return;
    }
    fmt::print("{}: ok ({} producer{}, consumer {} x{}, {} sink{})\n", check_args.file,
               cfg->producers.size(), cfg->producers.size() == 1 ? "" : "s",
               cfg->consumer.info->name, cfg->workers, cfg->sinks.size(),
               cfg->sinks.size() == 1 ? "" : "s");
    state.exit_code = 0;
  });
}

void add_schema_commands(CLI::App& app, app_state& state) {
  auto* schema = app.add_subcommand(
      "schema", "print a JSON Schema of the pipeline file (with every registered stage)");
  schema->footer(
      "Examples:\n"
      "  sluice schema > sluice.schema.json\n"
      "  sluice --plugin ./libmy_stages.so schema > sluice.schema.json   # with a plugin's stages\n"
      "Editors: docs/check.md (yaml-language-server).");
  schema->callback([&state] {
    std::cout << to_json_text(pipeline_json_schema(*state.reg)) << "\n";
    state.exit_code = 0;
  });

  static std::string stage_name;
  static bool markdown = false;
  auto* stages = app.add_subcommand("stages", "list the stage types, or one stage's options");
  stages->footer(
      "Examples:\n"
      "  sluice stages            # every stage type\n"
      "  sluice stages http       # the http consumer's options\n"
      "  sluice --plugin ./libmy_stages.so stages");
  stages->add_option("name", stage_name, "a stage type to describe");
  stages->add_flag("--markdown", markdown, "print the reference as Markdown tables");
  stages->callback([&state] { state.exit_code = list_stages(*state.reg, stage_name, markdown); });
}

}  // namespace

void add_run_commands(CLI::App& app, app_state& state) {
  add_run_command(app, state);
  add_check_command(app, state);
  add_schema_commands(app, state);
}

}  // namespace sluice::cli
