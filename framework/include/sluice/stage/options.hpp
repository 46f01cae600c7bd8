// Stage option schemas and validated option values.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

namespace sluice {

/// The type of one stage option; drives validation, `sluice stages` and the
/// README reference.
enum class option_type {
  string,          ///< any scalar, as text
  integer,         ///< a signed 64-bit integer
  number,          ///< a floating-point number
  boolean,         ///< true/false
  duration,        ///< `250ms`, `2s`, `1.5m`, `100us`, `0`
  duration_range,  ///< a duration, or `1ms..5ms` (uniformly random in between)
  size,            ///< a byte count: `512`, `64KiB`, `32MiB`, `1GB`
  string_list,     ///< a sequence of scalars (a single scalar is a one-item list)
  string_map,      ///< a mapping of scalars to scalars (for example HTTP headers)
  object,          ///< a nested mapping with its own schema (`fields`)
  object_list,     ///< a sequence of mappings, each with the schema `fields`
};

/// Human name of an option type as shown by `sluice stages`.
const char* to_string(option_type t) noexcept;

/// One option a stage accepts.
/// `default_value` is in YAML scalar syntax ("" = no default); `minimum` and
/// `maximum` bound integers, numbers, durations (in ms) and sizes (in bytes);
/// `choices` restricts a string to a set; `fields` is the schema of an object
/// (or of each mapping of an object_list). An object with `boolean_shorthand`
/// may also be written as `true` or `false` (its value is then that boolean;
/// its default is `default_value`, such as `false`).
/// Thread safety: a plain value.
struct option_spec {
  std::string name;
  option_type type = option_type::string;
  std::string default_value;
  bool required = false;
  std::string doc;
  std::optional<double> minimum;
  std::optional<double> maximum;
  std::vector<std::string> choices;
  std::vector<option_spec> fields;
  bool boolean_shorthand = false;
};

/// A stage's whole schema.
using option_schema = std::vector<option_spec>;

/// Shorthand for the common schema entry: name, type, default (as it would
/// be written in YAML, empty for none) and the line of documentation.
/// Thread safety: a pure function.
inline option_spec make_option(std::string name, option_type type, std::string default_value,
                               std::string doc) {
  option_spec s;
  s.name = std::move(name);
  s.type = type;
  s.default_value = std::move(default_value);
  s.doc = std::move(doc);
  return s;
}

/// A schema entry the pipeline must give (no default).
/// Thread safety: a pure function.
inline option_spec required_option(std::string name, option_type type, std::string doc) {
  option_spec s = make_option(std::move(name), type, "", std::move(doc));
  s.required = true;
  return s;
}

/// A string entry restricted to `choices`, defaulting to `default_value`
/// (one of them, or empty for none).
/// Thread safety: a pure function.
inline option_spec choice_option(std::string name, std::string default_value,
                                 std::vector<std::string> choices, std::string doc) {
  option_spec s =
      make_option(std::move(name), option_type::string, std::move(default_value), std::move(doc));
  s.choices = std::move(choices);
  return s;
}

/// `s` with its bounds set to [`lo`, `hi`] (nullopt: unbounded on that side;
/// durations in ms, sizes in bytes, as option_spec says). Replaces both bounds.
/// (Not `bounded`: argument-dependent lookup would make it clash with a
/// file's own helper of that name.)
/// Thread safety: a pure function.
inline option_spec bounded_option(option_spec s, std::optional<double> lo,
                                  std::optional<double> hi = {}) {
  s.minimum = lo;
  s.maximum = hi;
  return s;
}

/// A nested mapping entry with its own schema `fields` (no default: each
/// field has its own).
/// Thread safety: a pure function.
inline option_spec object_option(std::string name, std::string doc,
                                 std::vector<option_spec> fields) {
  option_spec s = make_option(std::move(name), option_type::object, "", std::move(doc));
  s.fields = std::move(fields);
  return s;
}

/// A sequence-of-mappings entry (for example the http consumer's `hosts:`
/// rules), each mapping checked against `fields`; no default (an empty list).
/// Thread safety: a pure function.
inline option_spec object_list_option(std::string name, std::string doc,
                                      std::vector<option_spec> fields) {
  option_spec s = make_option(std::move(name), option_type::object_list, "", std::move(doc));
  s.fields = std::move(fields);
  return s;
}

/// A config struct's default written as a schema default (YAML scalar
/// syntax), so that a stage states each default once, in its struct, and its
/// schema reads it from there: `make_option("append", option_type::boolean,
/// default_of(d.append), ...)` with `const jsonl_config d{};`.
/// Booleans give `true`/`false`; integers their digits; numbers at least one
/// decimal (`1.0`); strings themselves.
/// Thread safety: pure functions.
std::string default_of(bool v);
std::string default_of(double v);
inline std::string default_of(std::string v) {
  return v;
}
// Without it a string literal would pick the bool overload.
inline std::string default_of(const char* v) {
  return v;
}
template <std::integral T>
requires(!std::same_as<T, bool>) std::string default_of(T v) {
  return std::to_string(v);
}

/// A duration default in the largest unit of s, ms, us or ns that keeps it
/// exact (`200ms`, `1s`, `60s`; zero is `0`); parse_duration reads it back.
/// Thread safety: a pure function.
std::string default_of(std::chrono::nanoseconds d);

/// `s` without leading and trailing spaces and tabs (HTTP's optional white
/// space, a YAML scalar's padding).
/// Thread safety: pure.
std::string_view trim_blanks(std::string_view s);

/// A size default in the largest of GiB, MiB or KiB that keeps it exact
/// (`64KiB`, `1MiB`), else in bytes (`512`); parse_size reads it back. Its
/// own name because a size is an integer to the type system.
/// Thread safety: a pure function.
std::string default_of_size(std::uint64_t bytes);

/// The closest candidate to `word` by edit distance (case-insensitive), if
/// close enough to suggest.
/// Thread safety: a pure function.
std::optional<std::string> did_you_mean(const std::string& word,
                                        const std::vector<std::string>& candidates);

/// The note for an unknown `word`, the one wording every "did you mean"
/// message uses: `did you mean 'x'?` for the closest candidate, otherwise
/// `otherwise` (often `"known types: " + join_names(candidates)`).
/// Thread safety: a pure function.
std::string did_you_mean_note(const std::string& word, const std::vector<std::string>& candidates,
                              std::string otherwise = {});

/// `names` joined with ", ", for notes such as "known options: a, b, c".
/// Thread safety: a pure function.
std::string join_names(const std::vector<std::string>& names);

/// A uniformly random duration in [low, high] (low == high for a fixed one).
struct duration_range {
  std::chrono::nanoseconds low{0};
  std::chrono::nanoseconds high{0};
};

/// Parses `250ms`, `2s`, `1.5m`, `1h`, `100us`, `10ns`, `0`. Returns nullopt
/// on anything else (including negative values).
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

/// The two ends of a `low..high` range, split at the first `..`; a text
/// without `..` is both ends (`5` gives `5` and `5`). Parsing each end is the
/// caller's (parse_duration_range, the asyncq stages' integer ranges).
/// Thread safety: a pure function.
std::pair<std::string_view, std::string_view> split_range(std::string_view text);

/// Parses a duration or a `low..high` range of durations.
std::optional<duration_range> parse_duration_range(std::string_view text);

/// Parses `512`, `64KiB`, `32MiB`, `2GiB`, `10KB`, `1MB`, `1GB` (decimal) into bytes.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// Formats a duration for humans: `850ns`, `12.3us`, `4.56ms`, `1.234s`.
std::string format_duration(std::chrono::nanoseconds d);

/// Formats a byte count for humans: `512 B`, `12.3 KiB`, `4.0 MiB`.
std::string format_bytes(std::uint64_t b);

/// Validated option values of one stage (or of one nested object), with
/// defaults applied. Values are stored as JSON (durations as integer
/// nanoseconds, sizes as integer bytes, duration ranges as [low, high]).
/// Accessors assume the schema was checked: they throw std::logic_error when
/// asked for an option the schema does not declare with that type.
/// Thread safety: immutable after construction; safe to share.
class options {
 public:
  options() = default;
  options(boost::json::object values, std::string stage_name);

  /// True when the option was given or has a default.
  bool has(const std::string& name) const;

  std::string get_string(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;
  double get_number(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  std::chrono::nanoseconds get_duration(const std::string& name) const;
  duration_range get_duration_range(const std::string& name) const;
  std::uint64_t get_size(const std::string& name) const;
  std::vector<std::string> get_string_list(const std::string& name) const;
  std::map<std::string, std::string> get_string_map(const std::string& name) const;
  options get_object(const std::string& name) const;
  /// The mappings of an object_list option, in order (`name[i]` is each
  /// one's stage_name suffix). Empty when not given.
  std::vector<options> get_object_list(const std::string& name) const;

  /// The stage (or `stage.option` path) these options belong to.
  const std::string& stage_name() const noexcept { return stage_name_; }

  /// All values as JSON (for reports and debugging).
  const boost::json::object& json() const noexcept;

 private:
  const boost::json::value& at(const std::string& name) const;
  std::shared_ptr<const boost::json::object> values_;
  std::string stage_name_;
};

}  // namespace sluice
