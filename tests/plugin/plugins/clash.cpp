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
  reg.add(sluice::stage_entry<nothing>(name, "test: does nothing"));
}

void register_clash(sluice::registry& reg) {
  add_consumer(reg, "clash_probe");
  add_consumer(reg, "sleep");
}

}  // namespace

SLUICE_PLUGIN("clash", "1.0", register_clash)
