// The http consumer's table of origins (see origin_table.hpp).
#include "origin_table.hpp"

namespace sluice::stages::http {

std::shared_ptr<origin> origin_table::find_or_add(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto it = origins_.find(key);
  if (it == origins_.end()) {
    it = origins_.emplace(std::string(key), std::make_shared<origin>(cfg_, executor_)).first;
  }
  return it->second;
}

}  // namespace sluice::stages::http
