// Stage option schemas and validated option values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
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
};

/// Human name of an option type as shown by `sluice stages`.
const char* to_string(option_type t) noexcept;

/// One option a stage accepts.
/// `default_value` is in YAML scalar syntax ("" = no default); `minimum` and
/// `maximum` bound integers, numbers, durations (in ms) and sizes (in bytes);
/// `choices` restricts a string to a set; `fields` is the schema of an object.
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
};

/// A stage's whole schema.
using option_schema = std::vector<option_spec>;

/// Shorthand for the common schema entry: name, type, default (as it would
/// be written in YAML, empty for none) and the line of documentation.
inline option_spec make_option(std::string name, option_type type, std::string default_value,
                               std::string doc) {
  option_spec s;
  s.name = std::move(name);
  s.type = type;
  s.default_value = std::move(default_value);
  s.doc = std::move(doc);
  return s;
}

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
