#include "sluice/runtime/run_threads.hpp"

#include <thread>
#include <vector>

namespace sluice {

void run_on_threads(boost::asio::io_context& ioc, unsigned threads) {
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) {
    pool.emplace_back([&ioc] { ioc.run(); });
  }
  ioc.run();
  for (auto& t : pool) {
    t.join();
  }
}

}  // namespace sluice
