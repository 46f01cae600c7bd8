// The registry of stage types: name, summary, schema and factory of each.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/stage/options.hpp"
#include "sluice/stage/stage.hpp"

namespace sluice {

/// The four kinds of registered components.
enum class stage_kind { producer, consumer, sink, service };

/// `producer`, `consumer`, `sink` or `service`.
const char* to_string(stage_kind k) noexcept;

/// One registry entry. `validate` (optional) checks option values beyond the
/// schema and throws config_error, or config_errors (config_error_list) to
/// report several problems at once; it runs at load time (also for
/// `sluice check`), even when other options of the stage were bad (those get
/// their defaults, and problems with them are not reported twice).
/// `check_files` (optional) checks what the stage needs from the filesystem
/// (a file that must exist) with the pipeline file's directory in
/// `ctx.base_dir`; it throws like `validate` and runs after it, at load time.
/// Exactly one factory matching `kind` is set. Factories may
/// throw config_error too (reported at the option's line:column, exit 2).
/// `origin` is "builtin" or the path of the plugin that registered it.
/// Thread safety: a plain value.
struct stage_info {
  stage_kind kind = stage_kind::producer;
  std::string name;
  std::string summary;
  option_schema schema;
  std::function<void(const options&)> validate;
  std::function<std::unique_ptr<producer>(const stage_context&)> make_producer;
  std::function<std::unique_ptr<consumer>(const stage_context&)> make_consumer;
  std::function<std::unique_ptr<sink>(const stage_context&)> make_sink;
  std::function<std::unique_ptr<service>(const stage_context&)> make_service;
  std::string origin = "builtin";
  std::function<void(const stage_context&)> check_files;
};

/// A registry entry for the stage class `Stage` (derived from producer,
/// consumer, sink or service): its kind follows from the base class, and its
/// factory makes a `Stage` from the stage_context (or default-constructs one
/// when `Stage` takes no context). Set `validate` on the result when needed.
/// For example
/// `reg.add(stage_entry<countdown>("countdown", "one URL every 100ms", {...}));`.
/// Thread safety: a pure function; the factory may be called from any thread.
template <class Stage>
stage_info stage_entry(std::string name, std::string summary, option_schema schema = {}) {
  auto make = [](const stage_context& ctx) {
    if constexpr (std::is_constructible_v<Stage, const stage_context&>) {
      return std::make_unique<Stage>(ctx);
    } else {
      (void)ctx;
      return std::make_unique<Stage>();
    }
  };
  stage_info info;
  info.name = std::move(name);
  info.summary = std::move(summary);
  info.schema = std::move(schema);
  if constexpr (std::is_base_of_v<producer, Stage>) {
    info.kind = stage_kind::producer;
    info.make_producer = make;
  } else if constexpr (std::is_base_of_v<consumer, Stage>) {
    info.kind = stage_kind::consumer;
    info.make_consumer = make;
  } else if constexpr (std::is_base_of_v<sink, Stage>) {
    info.kind = stage_kind::sink;
    info.make_sink = make;
  } else {
    static_assert(std::is_base_of_v<service, Stage>,
                  "a stage derives from producer, consumer, sink or service");
    info.kind = stage_kind::service;
    info.make_service = make;
  }
  return info;
}

/// The set of known stage types. Registration happens by explicit calls
/// (register_builtin_stages, a plugin's register function); there is no
/// static-initialiser magic.
/// Thread safety: all members may be called concurrently.
class registry {
 public:
  /// Adds an entry. Throws std::invalid_argument when a stage of the same kind
  /// and name exists, or when the entry has no factory for its kind.
  void add(stage_info info);

  /// The entry of that kind and name, or nullptr. The pointer stays valid for
  /// the registry's lifetime.
  const stage_info* find(stage_kind kind, const std::string& name) const;

  /// Every entry of a kind, sorted by name.
  std::vector<const stage_info*> list(stage_kind kind) const;

  /// Every entry, by kind then name.
  std::vector<const stage_info*> all() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<stage_kind, std::string>, std::unique_ptr<stage_info>> entries_;
};

}  // namespace sluice
