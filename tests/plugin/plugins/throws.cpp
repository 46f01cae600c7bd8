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
  sluice::stage_info s;
  s.kind = sluice::stage_kind::sink;
  s.name = "throws_probe";
  s.make_sink = [](const sluice::stage_context&) -> std::unique_ptr<sluice::sink> {
    return std::make_unique<nothing>();
  };
  reg.add(std::move(s));
  throw std::runtime_error("the database driver is missing");
}

}  // namespace

SLUICE_PLUGIN("throws", "1.0", register_throws)
