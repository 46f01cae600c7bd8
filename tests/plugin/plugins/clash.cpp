// A plugin whose second stage clashes with the built-in `sleep` consumer. Its
// first stage (`clash_probe`) must not reach the host registry either.
#include <memory>

#include "sluice/plugin/plugin.hpp"

namespace {

class nothing final : public sluice::consumer {
 public:
  boost::asio::awaitable<sluice::result> process(sluice::item it, sluice::worker_info) override {
    sluice::result r;
    r.url = it.url;
    co_return r;
  }
};

void add_consumer(sluice::registry& reg, const char* name) {
  sluice::stage_info c;
  c.kind = sluice::stage_kind::consumer;
  c.name = name;
  c.summary = "test: does nothing";
  c.make_consumer = [](const sluice::stage_context&) -> std::unique_ptr<sluice::consumer> {
    return std::make_unique<nothing>();
  };
  reg.add(std::move(c));
}

void register_clash(sluice::registry& reg) {
  add_consumer(reg, "clash_probe");
  add_consumer(reg, "sleep");
}

}  // namespace

SLUICE_PLUGIN("clash", "1.0", register_clash)
