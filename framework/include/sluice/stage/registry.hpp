// The registry of stage types: name, summary, schema and factory of each.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sluice/stage/options.hpp"
#include "sluice/stage/stage.hpp"

namespace sluice {

/// The four kinds of registered components.
enum class stage_kind { producer, consumer, sink, service };

/// `producer`, `consumer`, `sink` or `service`.
const char* to_string(stage_kind k) noexcept;

/// One registry entry. `validate` (optional) checks option values beyond the
/// schema and throws config_error; it runs at load time (also for
/// `sluice check`). Exactly one factory matching `kind` is set. Factories may
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
};

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
