#include "sluice/stage/registry.hpp"

#include <stdexcept>

namespace sluice {

const char* to_string(stage_kind k) noexcept {
  switch (k) {
    case stage_kind::producer:
      return "producer";
    case stage_kind::consumer:
      return "consumer";
    case stage_kind::sink:
      return "sink";
    case stage_kind::service:
      return "service";
  }
  return "?";
}

void registry::add(stage_info info) {
  const bool has_factory = (info.kind == stage_kind::producer && info.make_producer) ||
                           (info.kind == stage_kind::consumer && info.make_consumer) ||
                           (info.kind == stage_kind::sink && info.make_sink) ||
                           (info.kind == stage_kind::service && info.make_service);
  if (!has_factory) {
    throw std::invalid_argument("stage '" + info.name + "' has no " + to_string(info.kind) +
                                " factory");
  }
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(info.kind, info.name);
  if (auto it = entries_.find(key); it != entries_.end()) {
    throw std::invalid_argument(std::string(to_string(info.kind)) + " '" + info.name +
                                "' is already registered (by " + it->second->origin + ")");
  }
  entries_.emplace(std::move(key), std::make_unique<stage_info>(std::move(info)));
}

const stage_info* registry::find(stage_kind kind, const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find({kind, name});
  return it == entries_.end() ? nullptr : it->second.get();
}

std::vector<const stage_info*> registry::list(stage_kind kind) const {
  std::lock_guard lock(mutex_);
  std::vector<const stage_info*> out;
  for (const auto& [key, info] : entries_) {
    if (key.first == kind) {
      out.push_back(info.get());
    }
  }
  return out;
}

std::vector<const stage_info*> registry::all() const {
  std::lock_guard lock(mutex_);
  std::vector<const stage_info*> out;
  for (const auto& [key, info] : entries_) {
    out.push_back(info.get());
  }
  return out;
}

}  // namespace sluice
