// Pipeline file loading: parse (yaml-cpp), guard against hostile documents,
// apply --set overrides, interpolate ${VARS}, validate against the registry's
// schemas, collecting every problem as a diagnostic.
#include "sluice/config/config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/core.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>
#include <boost/json.hpp>

#include "sluice/core/error.hpp"
#include "sluice/runtime/filter.hpp"

#include "metrics_listen.hpp"

namespace sluice {

namespace json = boost::json;

std::string format_diagnostic(const diagnostic& d) {
  std::string out;
  if (d.line > 0) {
    out = fmt::format("{}:{}:{}: error: {}", d.file, d.line, d.column, d.message);
  } else {
    out = fmt::format("{}: error: {}", d.file, d.message);
  }
  if (!d.note.empty()) {
    out += fmt::format("\n  note: {}", d.note);
  }
  return out;
}

const option_schema& pipeline_schema() {
  static const option_schema schema = [] {
    using T = option_type;
    const pipeline_config d{};
    option_schema s;
    s.push_back(make_option("name", T::string, "",
                            "The pipeline's name in reports (default: the file name's stem)"));
    s.push_back(bounded_option(
        make_option("threads", T::integer, "", "io_context threads (default: hardware threads)"), 1,
        1024));
    s.push_back(object_option(
        "queue", "The bounded queue between producers and consumer workers",
        {bounded_option(make_option("capacity", T::integer, default_of(d.queue_capacity),
                                    "Items the queue holds before producers wait"),
                        1, 1e8)}));
    s.push_back(object_option("producers", "The producers: a non-empty list of stages", {}));
    s.push_back(object_option("consumers", "The consumer stage (run by `workers` workers)", {}));
    s.push_back(object_option("sinks", "The sinks: a non-empty list of stages", {}));
    s.push_back(make_option("plugins", T::string_list, "",
                            "Plugin shared libraries, relative to the pipeline file"));
    s.push_back(make_option("max_failed", T::string, "0",
                            "Failed items a run may have and exit 0: a count (10) or a "
                            "percentage from 0% to 100% (2%)"));
    s.push_back(bounded_option(make_option("stop_after_failed", T::integer, "",
                                           "Stop gracefully after this many failed items"),
                               1));
    s.push_back(make_option("state", T::string, "",
                            "The resumable state's directory (relative to the pipeline file), "
                            "or false for none (default: .sluice/<name>)"));
    s.push_back(object_option(
        "commit", "How often sinks commit in a resumable run",
        {make_option("interval", T::duration, default_of(d.state.commit_interval),
                     "Commit at least this often"),
         bounded_option(make_option("items", T::integer, default_of(d.state.commit_items),
                                    "Commit at least every this many results"),
                        1)}));
    s.push_back(choice_option("dedup", "off", {"url", "final_url", "off"},
                              "Skip items already seen (by URL, or by final URL after redirects)"));
    option_spec listen = make_option(
        "listen", T::string, "", "IP:PORT to serve Prometheus metrics at /metrics (port 0: any)");
    listen.required = true;
    s.push_back(object_option(
        "metrics", "A Prometheus endpoint while the run lasts (docs/metrics.md)",
        {listen, make_option("linger", T::duration, "0s",
                             "Keep serving the final values this long after the run")}));
    return s;
  }();
  return schema;
}

const option_schema& framework_stage_options(stage_kind kind) {
  static const option_schema none;
  static const option_schema consumer = {bounded_option(
      make_option("workers", option_type::integer, default_of(pipeline_config{}.workers),
                  "Concurrent consumer workers"),
      1, 100000)};
  static const option_schema sink = {
      make_option("when", option_type::string, "",
                  "A filter: the sink gets only the results it matches (docs/sinks.md)")};
  return kind == stage_kind::consumer ? consumer : kind == stage_kind::sink ? sink : none;
}

namespace {

using mark_map = std::map<std::string, source_mark>;

// What convert_fields found wrong: whether anything was, and which keys
// (given with a bad value, or required and missing) have no value of their own.
struct field_errors {
  bool any = false;
  std::set<std::string> bad_values;
  // True when a problem reported against `option` (`retry.on[1]`) would be a
  // follow-on of an earlier one: its top-level key had no value of its own.
  bool blames(const std::string& option) const {
    return bad_values.count(option.substr(0, option.find_first_of(".["))) > 0;
  }
};

// Hostile-document limits: aliases are shared nodes in yaml-cpp, so a walk
// that follows them can expand exponentially. Count every visit, stop early.
constexpr std::size_t max_nodes = 200000;
constexpr int max_depth = 64;

source_mark mark_of(const YAML::Node& n) {
  const auto m = n.Mark();
  if (m.is_null()) {
    return {};
  }
  return {m.line + 1, m.column + 1};
}

bool is_true_word(const std::string& s) {
  return s == "true" || s == "yes" || s == "on";
}
bool is_false_word(const std::string& s) {
  return s == "false" || s == "no" || s == "off";
}

class loader {
 public:
  loader(std::string file, registry& reg, const load_options& opts)
      : file_(std::move(file)), reg_(reg), opts_(opts) {
    variables_ = opts.variables;
  }

  load_result load_text(const std::string& text) {
    load_result out;
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::DeepRecursion& e) {
      error({e.mark.line + 1, e.mark.column + 1}, "",
            "the document is nested too deeply (more than yaml-cpp's depth limit); rejected");
      return finish();
    } catch (const YAML::ParserException& e) {
      error({e.mark.line + 1, e.mark.column + 1}, "", "YAML syntax error: " + e.msg);
      return finish();
    }
    std::size_t visits = 0;
    if (!guard(root, 0, visits)) {
      return finish();
    }
    const auto before_overrides = diags_.size();
    apply_overrides(root);
    if (diags_.size() != before_overrides) {
      return finish();
    }
    if (!root.IsMap()) {
      error(mark_of(root), "",
            "a pipeline file must be a mapping with producers, consumers and sinks");
      return finish();
    }
    validate_root(root);
    return finish();
  }

 private:
  load_result finish() {
    load_result r;
    std::stable_sort(diags_.begin(), diags_.end(), [](const diagnostic& a, const diagnostic& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    r.diagnostics = std::move(diags_);
    if (r.diagnostics.empty()) {
      r.config = std::move(cfg_);
    }
    return r;
  }

  void error(source_mark m, std::string path, std::string message, std::string note = {}) {
    diagnostic d;
    d.file = file_;
    d.line = m.line;
    d.column = m.column;
    d.path = std::move(path);
    d.message = std::move(message);
    d.note = std::move(note);
    diags_.push_back(std::move(d));
  }

  bool guard(const YAML::Node& n, int depth, std::size_t& visits) {
    if (++visits > max_nodes) {
      error(mark_of(n), "",
            fmt::format("the document expands to more than {} nodes (an alias bomb?); rejected",
                        max_nodes));
      return false;
    }
    if (depth > max_depth) {
      error(mark_of(n), "",
            fmt::format("the document is nested more than {} levels deep; rejected", max_depth));
      return false;
    }
    if (n.IsMap()) {
      duplicate_keys(n);
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!guard(it->first, depth + 1, visits) || !guard(it->second, depth + 1, visits)) {
          return false;
        }
      }
    } else if (n.IsSequence()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!guard(*it, depth + 1, visits)) {
          return false;
        }
      }
    }
    return true;
  }

  // YAML forbids a key twice in one mapping; yaml-cpp 0.7 keeps both and
  // finds the first. An aliased mapping is walked once per alias: report each
  // duplicate once, by its position.
  void duplicate_keys(const YAML::Node& n) {
    std::map<std::string, source_mark> first;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) {
        continue;
      }
      const auto& key = it->first.Scalar();
      const auto m = mark_of(it->first);
      auto [at, fresh] = first.emplace(key, m);
      if (fresh || !duplicates_seen_.emplace(m.line, m.column).second) {
        continue;
      }
      error(m, key, fmt::format("duplicate key '{}' (YAML allows a key once per mapping)", key),
            fmt::format("the first '{}' is at {}:{}:{}", key, file_, at->second.line,
                        at->second.column));
    }
  }

  // --set a.b.0.c=value: walks maps by key and sequences by index, creating
  // missing map keys; the value is parsed as YAML.
  void apply_overrides(YAML::Node& root) {
    for (const auto& ov : opts_.overrides) {
      diagnostic d;
      d.file = "--set " + ov;
      auto eq = ov.find('=');
      if (eq == std::string::npos || eq == 0) {
        d.message = "expected --set key.path=value";
        diags_.push_back(d);
        continue;
      }
      std::string path = ov.substr(0, eq);
      YAML::Node value;
      try {
        value = YAML::Load(ov.substr(eq + 1));
      } catch (const YAML::Exception& e) {
        d.message = "the value is not valid YAML: " + e.msg;
        diags_.push_back(d);
        continue;
      }
      if (!root.IsDefined() || root.IsNull()) {
        root = YAML::Node(YAML::NodeType::Map);
      }
      std::vector<std::string> parts;
      std::stringstream ss(path);
      for (std::string part; std::getline(ss, part, '.');) {
        parts.push_back(part);
      }
      YAML::Node cur = root;
      bool ok = true;
      for (std::size_t i = 0; i < parts.size() && ok; ++i) {
        const auto& part = parts[i];
        bool last = i + 1 == parts.size();
        if (part.empty()) {
          ok = false;
          d.message = "empty key in '" + path + "'";
          break;
        }
        if (cur.IsSequence()) {
          std::size_t idx = 0;
          auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), idx);
          if (ec != std::errc{} || p != part.data() + part.size() || idx >= cur.size()) {
            ok = false;
            d.message = fmt::format("'{}' is not an index of the {}-item list at '{}'", part,
                                    cur.size(), path);
            break;
          }
          if (last) {
            cur[idx] = value;
          } else {
            YAML::Node next = cur[idx];
            cur.reset(next);
          }
        } else if (cur.IsMap() || cur.IsNull()) {
          if (last) {
            cur[part] = value;
          } else {
            if (!cur[part].IsDefined() || cur[part].IsNull()) {
              cur[part] = YAML::Node(YAML::NodeType::Map);
            }
            YAML::Node next = cur[part];
            cur.reset(next);
          }
        } else {
          ok = false;
          d.message = fmt::format("cannot set '{}': '{}' is a scalar", path, part);
        }
      }
      if (!ok) {
        diags_.push_back(d);
      }
    }
  }

  // ${NAME}, ${NAME:-default}; `$${` is a literal `${`.
  bool interpolate(const YAML::Node& n, const std::string& path, std::string& out) {
    const std::string& in = n.Scalar();
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
      if (in.compare(i, 3, "$${") == 0) {
        out += "${";
        i += 3;
        continue;
      }
      if (in.compare(i, 2, "${") != 0) {
        out += in[i++];
        continue;
      }
      auto close = in.find('}', i + 2);
      if (close == std::string::npos) {
        error(mark_of(n), path, "unterminated '${' in '" + in + "'",
              "write '$${' for a literal '${'");
        return false;
      }
      std::string name = in.substr(i + 2, close - i - 2);
      std::optional<std::string> fallback;
      if (auto dash = name.find(":-"); dash != std::string::npos) {
        fallback = name.substr(dash + 2);
        name.resize(dash);
      }
      if (auto it = variables_.find(name); it != variables_.end()) {
        out += it->second;
      } else if (const char* env = std::getenv(name.c_str()); env && *env) {
        out += env;
      } else if (fallback) {
        out += *fallback;
      } else {
        std::vector<std::string> known;
        for (const auto& [k, v] : variables_) {
          known.push_back(k);
        }
        error(mark_of(n), path, "undefined variable '" + name + "'",
              did_you_mean_note(name, known,
                                "set it in the environment or write ${" + name + ":-default}"));
        return false;
      }
      i = close + 1;
    }
    return true;
  }

  bool scalar(const YAML::Node& n, const std::string& path, std::string& out,
              const char* what = "a scalar") {
    if (!n.IsScalar()) {
      error(mark_of(n), path, fmt::format("'{}' must be {}", path, what));
      return false;
    }
    return interpolate(n, path, out);
  }

  bool to_int(const YAML::Node& n, const std::string& path, std::int64_t& v) {
    std::string s;
    if (!scalar(n, path, s, "an integer")) {
      return false;
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) {
      error(mark_of(n), path, fmt::format("'{}' must be an integer, not '{}'", path, s));
      return false;
    }
    return true;
  }

  bool check_range(const YAML::Node& n, const std::string& path, double v, const option_spec& spec,
                   const std::string& shown) {
    if ((spec.minimum && v < *spec.minimum) || (spec.maximum && v > *spec.maximum)) {
      std::string bounds;
      if (spec.minimum && spec.maximum) {
        bounds = fmt::format("between {} and {}", *spec.minimum, *spec.maximum);
      } else if (spec.minimum) {
        bounds = fmt::format("at least {}", *spec.minimum);
      } else {
        bounds = fmt::format("at most {}", *spec.maximum);
      }
      std::string unit =
          spec.type == option_type::duration || spec.type == option_type::duration_range ? " ms"
          : spec.type == option_type::size                                               ? " bytes"
                                                                                         : "";
      error(mark_of(n), path,
            fmt::format("'{}' is out of range: {} (must be {}{})", path, shown, bounds, unit));
      return false;
    }
    return true;
  }

  // Converts one option value per its spec. Returns false after reporting.
  // `marks` (when given) receives the position of each option and list item
  // met below this one, keyed by its path inside the stage: `at` is this
  // option's (`retry`), its fields `retry.on`, their items `retry.on[1]`.
  bool convert(const YAML::Node& n, const option_spec& spec, const std::string& path,
               json::value& out, mark_map* marks = nullptr, const std::string& at = {}) {
    std::string s;
    switch (spec.type) {
      case option_type::string: {
        if (!scalar(n, path, s, "a string")) {
          return false;
        }
        if (!spec.choices.empty() &&
            std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end()) {
          error(mark_of(n), path,
                fmt::format("'{}' must be one of {}, not '{}'", path, join_names(spec.choices), s),
                did_you_mean_note(s, spec.choices));
          return false;
        }
        out = json::string(s);
        return true;
      }
      case option_type::integer: {
        std::int64_t v = 0;
        if (!to_int(n, path, v) ||
            !check_range(n, path, static_cast<double>(v), spec, std::to_string(v))) {
          return false;
        }
        out = v;
        return true;
      }
      case option_type::number: {
        if (!scalar(n, path, s, "a number")) {
          return false;
        }
        double v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) {
          error(mark_of(n), path, fmt::format("'{}' must be a number, not '{}'", path, s));
          return false;
        }
        if (!check_range(n, path, v, spec, s)) {
          return false;
        }
        out = v;
        return true;
      }
      case option_type::boolean: {
        if (!scalar(n, path, s, "true or false")) {
          return false;
        }
        if (is_true_word(s)) {
          out = true;
        } else if (is_false_word(s)) {
          out = false;
        } else {
          error(mark_of(n), path, fmt::format("'{}' must be true or false, not '{}'", path, s));
          return false;
        }
        return true;
      }
      case option_type::duration:
        return convert_duration(n, spec, path, out);
      case option_type::duration_range:
        return convert_duration_range(n, spec, path, out);
      case option_type::size:
        return convert_size(n, spec, path, out);
      case option_type::string_list:
        return convert_string_list(n, path, out, marks, at);
      case option_type::string_map:
        return convert_string_map(n, spec, path, out);
      case option_type::object:
        return convert_object(n, spec, path, out, marks, at);
      case option_type::object_list:
        return convert_object_list(n, spec, path, out, marks, at);
    }
    return false;
  }

  bool convert_duration(const YAML::Node& n, const option_spec& spec, const std::string& path,
                        json::value& out) {
    std::string s;
    if (!scalar(n, path, s, "a duration")) {
      return false;
    }
    auto d = parse_duration(s);
    if (!d) {
      error(mark_of(n), path, fmt::format("'{}' is not a duration: '{}'", path, s),
            "write a number with a unit: 250ms, 2s, 1.5m, 100us");
      return false;
    }
    if (!check_range(n, path, static_cast<double>(d->count()) / 1e6, spec, s)) {
      return false;
    }
    out = d->count();
    return true;
  }

  bool convert_duration_range(const YAML::Node& n, const option_spec& spec, const std::string& path,
                              json::value& out) {
    std::string s;
    if (!scalar(n, path, s, "a duration or a range")) {
      return false;
    }
    auto r = parse_duration_range(s);
    if (!r) {
      error(mark_of(n), path, fmt::format("'{}' is not a duration or range: '{}'", path, s),
            "write 5ms, or 1ms..5ms for a uniformly random delay");
      return false;
    }
    if (!check_range(n, path, static_cast<double>(r->low.count()) / 1e6, spec, s) ||
        !check_range(n, path, static_cast<double>(r->high.count()) / 1e6, spec, s)) {
      return false;
    }
    out = json::array{r->low.count(), r->high.count()};
    return true;
  }

  bool convert_size(const YAML::Node& n, const option_spec& spec, const std::string& path,
                    json::value& out) {
    std::string s;
    if (!scalar(n, path, s, "a size")) {
      return false;
    }
    auto v = parse_size(s);
    if (!v) {
      error(mark_of(n), path, fmt::format("'{}' is not a size: '{}'", path, s),
            "write bytes or a unit: 512, 64KiB, 32MiB, 1GB");
      return false;
    }
    if (!check_range(n, path, static_cast<double>(*v), spec, s)) {
      return false;
    }
    out = *v;
    return true;
  }

  bool convert_string_list(const YAML::Node& n, const std::string& path, json::value& out,
                           mark_map* marks, const std::string& at) {
    std::string s;
    json::array arr;
    if (n.IsScalar()) {
      if (!scalar(n, path, s)) {
        return false;
      }
      arr.emplace_back(json::string(s));
    } else if (n.IsSequence()) {
      bool ok = true;
      std::size_t i = 0;
      for (auto it = n.begin(); it != n.end(); ++it, ++i) {
        if (marks) {
          (*marks)[fmt::format("{}[{}]", at, i)] = mark_of(*it);
        }
        if (scalar(*it, fmt::format("{}[{}]", path, i), s)) {
          arr.emplace_back(json::string(s));
        } else {
          ok = false;
        }
      }
      if (!ok) {
        return false;
      }
    } else {
      error(mark_of(n), path, fmt::format("'{}' must be a list of strings", path));
      return false;
    }
    out = std::move(arr);
    return true;
  }

  bool convert_string_map(const YAML::Node& n, const option_spec&, const std::string& path,
                          json::value& out) {
    if (!n.IsMap()) {
      error(mark_of(n), path, fmt::format("'{}' must be a mapping of names to values", path));
      return false;
    }
    json::object obj;
    bool ok = true;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k, v;
      if (scalar(it->first, path, k) && scalar(it->second, path + "." + k, v)) {
        obj[k] = json::string(v);
      } else {
        ok = false;
      }
    }
    if (!ok) {
      return false;
    }
    out = std::move(obj);
    return true;
  }

  bool convert_object(const YAML::Node& n, const option_spec& spec, const std::string& path,
                      json::value& out, mark_map* marks, const std::string& at) {
    if (spec.boolean_shorthand && n.IsScalar()) {
      option_spec b = spec;  // `true`/`false` instead of the mapping
      b.type = option_type::boolean;
      return convert(n, b, path, out, marks, at);
    }
    if (!n.IsMap()) {
      error(mark_of(n), path,
            fmt::format("'{}' must be {}a mapping", path,
                        spec.boolean_shorthand ? "true, false or " : ""));
      return false;
    }
    json::object obj;
    mark_map local;
    if (convert_fields(n, spec.fields, path, {}, obj, marks ? *marks : local, at + ".").any) {
      return false;
    }
    out = std::move(obj);
    return true;
  }

  // Each item is checked like an object option; its mark and its fields'
  // are recorded as `at[i]` and `at[i].field`, so a stage's config_error for
  // `hosts[1].match` points at that key.
  bool convert_object_list(const YAML::Node& n, const option_spec& spec, const std::string& path,
                           json::value& out, mark_map* marks, const std::string& at) {
    if (!n.IsSequence()) {
      error(mark_of(n), path, fmt::format("'{}' must be a list of mappings", path));
      return false;
    }
    json::array arr;
    mark_map local;
    bool ok = true;
    std::size_t i = 0;
    for (auto it = n.begin(); it != n.end(); ++it, ++i) {
      const std::string item_at = fmt::format("{}[{}]", at, i);
      const std::string item_path = fmt::format("{}[{}]", path, i);
      mark_map& m = marks ? *marks : local;
      m[item_at] = mark_of(*it);
      if (!it->IsMap()) {
        error(mark_of(*it), item_path, fmt::format("'{}' must be a mapping", item_path));
        ok = false;
        continue;
      }
      json::object obj;
      if (convert_fields(*it, spec.fields, item_path, {}, obj, m, item_at + ".").any) {
        ok = false;
        continue;
      }
      arr.emplace_back(std::move(obj));
    }
    if (!ok) {
      return false;
    }
    out = std::move(arr);
    return true;
  }

  // A default is written in YAML scalar syntax; parse it like a given value.
  json::value default_of(const option_spec& spec, const std::string& path) {
    json::value v;
    if (spec.type == option_type::object && !spec.boolean_shorthand) {
      json::object obj;
      for (const auto& f : spec.fields) {
        if (!f.default_value.empty()) {
          obj[f.name] = default_of(f, path + "." + f.name);
        }
      }
      return obj;
    }
    YAML::Node n = spec.type == option_type::string_list && spec.default_value == "[]"
                       ? YAML::Node(YAML::NodeType::Sequence)
                       : YAML::Node(spec.default_value);
    if (spec.type == option_type::string_map) {
      return json::object{};
    }
    if (spec.type == option_type::string_list && spec.default_value == "[]") {
      return json::array{};
    }
    if (!convert(n, spec, path, v)) {
      diags_.back().message += " (in the stage's built-in default: a bug in the stage)";
    }
    return v;
  }

  // Checks the keys of a mapping against `fields`; `extra` lists keys the
  // caller handles itself (type, workers, when). Every problem is reported;
  // a key that was given but failed is not also reported as missing, and
  // gets its default in `out` (when it has one) so that later checks can
  // run without reporting it again. `prefix` goes before each key in `marks`.
  field_errors convert_fields(const YAML::Node& n, const option_schema& fields,
                              const std::string& path, const std::vector<std::string>& extra,
                              json::object& out, mark_map& marks, const std::string& prefix = {}) {
    field_errors fe;
    std::vector<std::string> names = extra;
    for (const auto& f : fields) {
      names.push_back(f.name);
    }
    std::set<std::string> given;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
      if (std::find(extra.begin(), extra.end(), key) != extra.end()) {
        continue;
      }
      auto spec = std::find_if(fields.begin(), fields.end(),
                               [&](const option_spec& f) { return f.name == key; });
      std::string sub = path + "." + key;
      if (spec == fields.end()) {
        error(mark_of(it->first), sub, fmt::format("unknown option '{}' in {}", key, path),
              did_you_mean_note(key, names, "known options: " + join_names(names)));
        fe.any = true;
        continue;
      }
      if (!given.insert(key).second) {
        continue;  // a duplicate key: reported by duplicate_keys, the first one counts
      }
      marks[prefix + key] = mark_of(it->first);
      json::value v;
      if (convert(it->second, *spec, sub, v, &marks, prefix + key)) {
        out[key] = std::move(v);
      } else {
        fe.any = true;
        fe.bad_values.insert(key);
      }
    }
    for (const auto& f : fields) {
      if (out.contains(f.name)) {
        continue;
      }
      if (f.required && !given.count(f.name)) {
        error(mark_of(n), path + "." + f.name,
              fmt::format("{} is missing the required option '{}'", path, f.name),
              f.doc.empty() ? "" : f.name + ": " + f.doc);
        fe.any = true;
        fe.bad_values.insert(f.name);
      } else if (!f.default_value.empty() || f.type == option_type::object) {
        out[f.name] = default_of(f, path + "." + f.name);
      }
    }
    return fe;
  }

  std::optional<stage_decl> stage(const YAML::Node& n, stage_kind kind, const std::string& path,
                                  const std::vector<std::string>& extra) {
    if (!n.IsMap()) {
      error(mark_of(n), path, fmt::format("{} must be a mapping with a 'type'", path));
      return std::nullopt;
    }
    stage_decl decl;
    decl.path = path;
    decl.marks[""] = mark_of(n);
    std::string type;
    if (!n["type"]) {
      error(mark_of(n), path + ".type", fmt::format("{} has no 'type'", path),
            fmt::format("run 'sluice stages' to list the {} types", to_string(kind)));
      return std::nullopt;
    }
    if (n["type"].IsNull()) {
      type = "null";  // YAML reads a bare `null` as the null value, not as text
    } else if (!scalar(n["type"], path + ".type", type, "a stage type name")) {
      return std::nullopt;
    }
    decl.info = reg_.find(kind, type);
    if (!decl.info) {
      std::vector<std::string> names;
      for (const auto* info : reg_.list(kind)) {
        names.push_back(info->name);
      }
      error(mark_of(n["type"]), path + ".type",
            fmt::format("unknown {} type '{}'", to_string(kind), type),
            did_you_mean_note(type, names, "known types: " + join_names(names)));
      return std::nullopt;
    }
    decl.display_name = fmt::format("{} ({})", path, type);
    std::vector<std::string> all_extra = extra;
    all_extra.push_back("type");
    json::object values;
    const auto fe = convert_fields(n, decl.info->schema, path, all_extra, values, decl.marks);
    decl.opts = options(std::move(values), decl.display_name);
    if (!stage_checks(decl, fe) || fe.any) {
      return std::nullopt;
    }
    return decl;
  }

  // The position to blame for a stage's `option`: its own mark, else its
  // nearest enclosing option's (`retry.on[3]` -> `retry.on` -> `retry`),
  // else the stage's.
  source_mark mark_for(const stage_decl& decl, std::string option) const {
    while (!option.empty()) {
      if (auto it = decl.marks.find(option); it != decl.marks.end()) {
        return it->second;
      }
      const auto cut = option.find_last_of(".[");
      option.resize(cut == std::string::npos ? 0 : cut);
    }
    auto it = decl.marks.find("");
    return it == decl.marks.end() ? source_mark{} : it->second;
  }

  // Runs `f` (a stage's validate or check_files) and reports every
  // config_error it throws, except follow-ons of the problems in `fe`. A
  // stray exception after such problems is a follow-on too (the stage read
  // an option that had no value).
  template <class F>
  void run_stage_check(const stage_decl& decl, const field_errors& fe, F&& f) {
    auto report = [&](const config_error& e) {
      if (!fe.blames(e.option())) {
        error(mark_for(decl, e.option()), decl.path + (e.option().empty() ? "" : "." + e.option()),
              e.what());
      }
    };
    try {
      std::forward<F>(f)();
    } catch (const config_errors& e) {
      for (const auto& one : e.errors()) {
        report(one);
      }
    } catch (const config_error& e) {
      report(e);
    } catch (const std::exception& e) {
      if (!fe.any) {
        error(mark_for(decl, ""), decl.path, std::string("invalid options: ") + e.what());
      }
    }
  }

  // A stage's own checks: validate, then check_files (with the pipeline
  // file's directory). False when either reported a problem.
  bool stage_checks(const stage_decl& decl, const field_errors& fe) {
    const auto before = diags_.size();
    if (decl.info->validate) {
      run_stage_check(decl, fe, [&] { decl.info->validate(decl.opts); });
    }
    if (decl.info->check_files) {
      stage_context ctx;
      ctx.name = decl.display_name;
      ctx.type = decl.info->name;
      ctx.opts = decl.opts;
      ctx.base_dir = std::filesystem::path(file_).parent_path();
      run_stage_check(decl, fe, [&] { decl.info->check_files(ctx); });
    }
    return diags_.size() == before;
  }

  // The declared top-level key `name` (pipeline_schema).
  static const option_spec& top(const std::string& name) {
    const auto& s = pipeline_schema();
    auto it =
        std::find_if(s.begin(), s.end(), [&](const option_spec& o) { return o.name == name; });
    if (it == s.end()) {
      throw std::logic_error("no top-level key '" + name + "' in pipeline_schema()");
    }
    return *it;
  }

  // Converts the top-level key `name` (if given) per its declared spec.
  std::optional<json::value> top_value(const YAML::Node& root, const std::string& name) {
    const auto n = root[name];
    if (!n) {
      return std::nullopt;
    }
    const auto& spec = top(name);
    json::value v;
    mark_map marks;
    if (!convert(n, spec, name, v, &marks, name)) {
      return std::nullopt;
    }
    return v;
  }

  // `max_failed: N | P%` and `stop_after_failed: N`.
  void failure_keys(const YAML::Node& root) {
    if (auto n = root["max_failed"]) {
      std::string s;
      if (scalar(n, "max_failed", s, "a count or a percentage")) {
        bool percent = !s.empty() && s.back() == '%';
        std::string_view digits(s.data(), s.size() - (percent ? 1 : 0));
        double v = -1;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        bool whole = v == static_cast<double>(static_cast<std::uint64_t>(std::max(v, 0.0)));
        if (ec != std::errc{} || p != digits.data() + digits.size() || digits.empty() || v < 0 ||
            (percent && v > 100) || (!percent && !whole)) {
          error(mark_of(n), "max_failed",
                fmt::format("'max_failed' must be a count (like 10) or a percentage from 0% to "
                            "100% (like 2%), not '{}'",
                            s));
        } else if (percent) {
          cfg_.max_failed.percent = v;
        } else {
          cfg_.max_failed.count = static_cast<std::uint64_t>(v);
        }
      }
    }
    if (auto v = top_value(root, "stop_after_failed")) {
      cfg_.stop_after_failed = static_cast<std::uint64_t>(v->as_int64());
    }
  }

  // `state: DIR | false`, `commit: {interval, items}` and `dedup: url | off`.
  void durability_keys(const YAML::Node& root) {
    if (auto n = root["state"]) {
      std::string s;
      if (scalar(n, "state", s, "a directory or false")) {
        if (s == "false" || s == "off" || s == "no") {
          cfg_.state.enabled = false;
        } else if (s.empty() || s == "true" || s == "on" || s == "yes") {
          cfg_.state.dir.clear();
        } else {
          cfg_.state.dir = s;
        }
      }
    }
    if (auto v = top_value(root, "commit")) {
      options o(std::move(v->as_object()), "commit");
      cfg_.state.commit_interval = std::max<std::chrono::nanoseconds>(o.get_duration("interval"),
                                                                      std::chrono::milliseconds(1));
      cfg_.state.commit_items = static_cast<std::uint64_t>(o.get_int("items"));
    }
    if (auto v = top_value(root, "dedup")) {
      auto s = std::string(v->as_string());
      cfg_.dedup = s == "off" ? "" : s;
    }
  }

  // `metrics: {listen: IP:PORT, linger: 0s}` (docs/metrics.md).
  void metrics_keys(const YAML::Node& root) {
    auto v = top_value(root, "metrics");
    if (!v) {
      return;
    }
    options o(v->as_object(), "metrics");
    auto listen = o.get_string("listen");
    auto parsed = detail::parse_listen_address(listen);
    if (!parsed.address) {
      error(mark_of(root["metrics"]["listen"]), "metrics.listen", parsed.error);
      return;
    }
    cfg_.metrics.listen = listen;
    cfg_.metrics.linger = std::max<std::chrono::nanoseconds>(o.get_duration("linger"), {});
  }

  void validate_root(const YAML::Node& root) {
    std::vector<std::string> known;
    for (const auto& spec : pipeline_schema()) {
      known.push_back(spec.name);
    }
    // Plugins first: they may register stage and service types used below.
    if (auto p = root["plugins"]) {
      load_plugins(p);
    }
    for (const auto* info : reg_.list(stage_kind::service)) {
      known.push_back(info->name);
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        error(mark_of(it->first), key, fmt::format("unknown top-level key '{}'", key),
              did_you_mean_note(key, known));
      }
    }
    // Services next: their variables (e.g. ${origin}) feed interpolation.
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (const auto* info = reg_.find(stage_kind::service, key)) {
        service_section(it->second, *info, key);
      }
    }
    cfg_.file = file_;
    if (auto v = top_value(root, "name")) {
      cfg_.name = std::string(v->as_string());
    }
    if (cfg_.name.empty()) {
      cfg_.name = std::filesystem::path(file_).stem().string();
    }
    cfg_.threads = std::max(1u, std::thread::hardware_concurrency());
    if (auto v = top_value(root, "threads")) {
      cfg_.threads = static_cast<unsigned>(v->as_int64());
    }
    failure_keys(root);
    durability_keys(root);
    metrics_keys(root);
    if (auto v = top_value(root, "queue")) {
      cfg_.queue_capacity = static_cast<std::size_t>(v->as_object().at("capacity").as_int64());
    }
    stage_sections(root);
  }

  // The framework's own key of a stage (`workers`, `when`), per
  // framework_stage_options; converted whether or not the rest of the stage
  // was valid, so its problems are reported in the same pass.
  std::optional<json::value> framework_value(const YAML::Node& n, stage_kind kind,
                                             const std::string& key, const std::string& path) {
    if (!n.IsMap() || !n[key]) {
      return std::nullopt;
    }
    const auto& specs = framework_stage_options(kind);
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const option_spec& o) { return o.name == key; });
    json::value v;
    if (spec == specs.end() || !convert(n[key], *spec, path + "." + key, v)) {
      return std::nullopt;
    }
    return v;
  }

  void stage_sections(const YAML::Node& root) {
    auto producers = root["producers"];
    if (!producers) {
      error({1, 1}, "producers", "the pipeline has no 'producers' list",
            "add at least one producer, for example {type: range, url: ..., from: 0, to: 10}");
    } else if (!producers.IsSequence() || producers.size() == 0) {
      error(mark_of(producers), "producers", "'producers' must be a non-empty list of stages");
    } else {
      for (std::size_t i = 0; i < producers.size(); ++i) {
        if (auto d =
                stage(producers[i], stage_kind::producer, fmt::format("producers[{}]", i), {})) {
          cfg_.producers.push_back(std::move(*d));
        }
      }
    }
    auto consumers = root["consumers"];
    if (!consumers) {
      error({1, 1}, "consumers", "the pipeline has no 'consumers' section",
            "add one, for example {type: http, workers: 100}");
    } else {
      auto d = stage(consumers, stage_kind::consumer, "consumers", {"workers"});
      auto w = framework_value(consumers, stage_kind::consumer, "workers", "consumers");
      if (d) {
        cfg_.consumer = std::move(*d);
      }
      if (w) {
        cfg_.workers = static_cast<std::uint32_t>(w->as_int64());
      }
    }
    sink_sections(root);
  }

  void sink_sections(const YAML::Node& root) {
    auto sinks = root["sinks"];
    if (!sinks) {
      error({1, 1}, "sinks", "the pipeline has no 'sinks' list",
            "add at least one sink, for example {type: jsonl, path: out/results.jsonl}");
      return;
    }
    if (!sinks.IsSequence() || sinks.size() == 0) {
      error(mark_of(sinks), "sinks", "'sinks' must be a non-empty list of stages");
      return;
    }
    for (std::size_t i = 0; i < sinks.size(); ++i) {
      auto path = fmt::format("sinks[{}]", i);
      auto d = stage(sinks[i], stage_kind::sink, path, {"when"});
      auto when = framework_value(sinks[i], stage_kind::sink, "when", path);
      if (when) {
        const auto w = sinks[i]["when"];
        const std::string text(when->as_string());
        std::string err;
        int col = 0;
        if (!result_filter::parse(text, err, col)) {
          source_mark m = mark_of(w);
          // A quoted scalar's text starts one column after its mark.
          m.column += col + (w.Tag() == "!" ? 1 : 0);
          error(m, path + ".when", "bad 'when' filter: " + err);
        } else if (d) {
          d->marks["when"] = mark_of(w);
          d->when = text;
        }
      }
      if (d) {
        cfg_.sinks.push_back(std::move(*d));
      }
    }
  }

  void load_plugins(const YAML::Node& p) {
    if (!p.IsSequence()) {
      error(mark_of(p), "plugins", "'plugins' must be a list of shared library paths");
      return;
    }
    auto base = std::filesystem::path(file_).parent_path();
    for (std::size_t i = 0; i < p.size(); ++i) {
      std::string s;
      auto path = fmt::format("plugins[{}]", i);
      if (!scalar(p[i], path, s, "a path")) {
        continue;
      }
      std::filesystem::path lib(s);
      if (lib.is_relative()) {
        lib = base / lib;
      }
      cfg_.plugins.push_back(lib.string());
      if (!opts_.load_plugin) {
        error(mark_of(p[i]), path, "plugins cannot be loaded here");
        continue;
      }
      if (auto msg = opts_.load_plugin(lib.string()); !msg.empty()) {
        error(mark_of(p[i]), path, msg);
      }
    }
  }

  void service_section(const YAML::Node& n, const stage_info& info, const std::string& key) {
    if (!n.IsMap()) {
      error(mark_of(n), key, fmt::format("'{}' must be a mapping", key));
      return;
    }
    stage_decl decl;
    decl.info = &info;
    decl.path = key;
    decl.display_name = key;
    decl.marks[""] = mark_of(n);
    json::object values;
    if (convert_fields(n, info.schema, key, {}, values, decl.marks).any) {
      return;
    }
    decl.opts = options(std::move(values), key);
    stage_context ctx;
    ctx.name = key;
    ctx.type = info.name;
    ctx.opts = decl.opts;
    ctx.base_dir = std::filesystem::path(file_).parent_path();
    try {
      if (info.validate) {
        info.validate(decl.opts);
      }
      auto svc = info.make_service(ctx);
      for (const auto& [k, v] : svc->variables()) {
        variables_[k] = v;
      }
      cfg_.service_instances.push_back(std::shared_ptr<service>(std::move(svc)));
      cfg_.services.push_back(std::move(decl));
    } catch (const config_errors& e) {
      for (const auto& one : e.errors()) {
        error(mark_for(decl, one.option()), key, one.what());
      }
    } catch (const config_error& e) {
      error(mark_for(decl, e.option()), key, e.what());
    } catch (const std::exception& e) {
      error(decl.marks[""], key, fmt::format("cannot start '{}': {}", key, e.what()));
    }
  }

  std::string file_;
  registry& reg_;
  const load_options& opts_;
  std::map<std::string, std::string> variables_;
  std::vector<diagnostic> diags_;
  std::set<std::pair<int, int>> duplicates_seen_;
  pipeline_config cfg_;
};

}  // namespace

load_result load_pipeline_text(const std::string& text, const std::string& file, registry& reg,
                               const load_options& opts) {
  loader l(file, reg, opts);
  return l.load_text(text);
}

load_result load_pipeline(const std::string& file, registry& reg, const load_options& opts) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    load_result r;
    r.diagnostics.push_back({.file = file, .message = "cannot open the pipeline file"});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_pipeline_text(ss.str(), file, reg, opts);
}

}  // namespace sluice
