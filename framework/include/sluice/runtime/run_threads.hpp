// Running an io_context on several threads, as the runtime, the asyncq
// throughput stage, the benchmarks and the tests do.
#pragma once

#include <boost/asio/io_context.hpp>

namespace sluice {

/// Runs `ioc` on the calling thread and on `threads - 1` more (none when
/// `threads` is 0 or 1) and returns once every one of them has returned from
/// `run()`: when `ioc` runs out of work or is stopped. An exception escaping a
/// handler ends the process (std::terminate), as it would in a thread's run().
/// Thread safety: `ioc` may be used from other threads meanwhile (to post or
/// stop it), as io_context allows.
void run_on_threads(boost::asio::io_context& ioc, unsigned threads);

}  // namespace sluice
