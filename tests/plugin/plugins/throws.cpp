// A plugin whose register function throws half-way.
#include <memory>
#include <stdexcept>

#include "sluice/plugin/plugin.hpp"

namespace {

class nothing final : public sluice::sink {
 public:
  boost::asio::awaitable<void> write(const std::vector<sluice::result_ptr>&) override { co_return; }
};

void register_throws(sluice::registry& reg) {
  reg.add(sluice::stage_entry<nothing>("throws_probe", ""));
  throw std::runtime_error("the database driver is missing");
}

}  // namespace

SLUICE_PLUGIN("throws", "1.0", register_throws)
