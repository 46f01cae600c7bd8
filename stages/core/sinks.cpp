// The core `null` sink (discards every result). The other sinks live in
// stages/sinks.
#include "core_parts.hpp"
#include "sluice/stages/core.hpp"

namespace sluice::stages::core {

namespace {

class null_sink final : public sink {
 public:
  boost::asio::awaitable<void> write(const std::vector<result_ptr>&) override { co_return; }
  bool wants_bodies() const override { return false; }
};

}  // namespace

void register_sinks(registry& reg) {
  reg.add({.kind = stage_kind::sink,
           .name = "null",
           .summary = "discards every result (benchmarks)",
           .make_sink = [](const stage_context&) { return std::make_unique<null_sink>(); }});
}

}  // namespace sluice::stages::core

namespace sluice {

void register_core_stages(registry& reg) {
  stages::core::register_producers(reg);
  stages::core::register_request_producers(reg);
  stages::core::register_consumers(reg);
  stages::core::register_sinks(reg);
}

}  // namespace sluice
