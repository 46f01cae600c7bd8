// The process's descriptor limit (RLIMIT_NOFILE, `ulimit -n`): raised from
// the soft to the hard limit at the start of a run, as nginx's
// worker_rlimit_nofile and most servers do, and a warning when even that is
// too few for the workers' connections.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

/// The descriptor limit before and after raise_descriptor_limit.
/// Thread safety: a plain value.
struct descriptor_limit {
  std::uint64_t soft_before = 0;  ///< the soft limit the process started with
  std::uint64_t soft = 0;         ///< the soft limit now
  std::uint64_t hard = 0;         ///< the hard limit (a ceiling only root can raise)
};

/// Raises the soft descriptor limit to the hard one (capped by the kernel's
/// fs.nr_open when the hard limit is unlimited) and returns both; leaves the
/// limit as it is when the kernel refuses.
/// Thread safety: changes process-wide state; call once, before threads that
/// open descriptors start.
descriptor_limit raise_descriptor_limit() noexcept;

/// Descriptors a run needs besides its workers' sockets: standard streams,
/// the event loop, sinks, the state database, body files.
inline constexpr std::uint64_t descriptor_reserve = 64;

/// The warning for `workers` workers under `limit`, or "" when each worker
/// can have a socket (plus descriptor_reserve). Thread safety: pure.
std::string descriptor_warning(std::uint32_t workers, const descriptor_limit& limit);

}  // namespace sluice
