// Running only a pipeline's producers, for commands that look at what a
// pipeline would fetch without fetching it (`sluice plan`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sluice/config/config.hpp"
#include "sluice/core/item.hpp"

namespace sluice {

/// How draining a pipeline's producers ended.
/// Thread safety: a plain value.
struct drain_report {
  std::uint64_t items = 0;  ///< items the producers emitted before the end (or the failure)
  /// 0: every producer ran to its end. 2: a producer's factory rejected its
  /// configuration (a config_error, such as a `file` producer's missing file):
  /// `error` is the diagnostic at the option's line:column, exactly as
  /// `sluice run` prints it. 1: a producer threw while constructed or while
  /// producing: `error` is `<stage>: <what>`.
  int exit_code = 0;
  std::string error;
};

/// Constructs every producer of `cfg` (all of them first, so a bad one fails
/// before any item is produced), then runs each to its end, one after the
/// other, on one thread, handing every batch (at most `batch_size` items) to
/// `on_batch` on the calling thread. No queue, consumer, sink, service, state
/// or dedup set is involved: the items are exactly what the producers emit.
/// Memory stays at one batch plus what the producers themselves hold (the
/// `file` producer streams). A throw from `on_batch` ends draining as a
/// producer's throw does (exit_code 1, named after that producer).
/// Precondition: batch_size > 0.
/// Thread safety: blocks the calling thread; `cfg` must not change meanwhile.
drain_report drain_producers(const pipeline_config& cfg,
                             const std::function<void(const std::vector<item>&)>& on_batch,
                             std::size_t batch_size = 256);

}  // namespace sluice
