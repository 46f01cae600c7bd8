// Raising RLIMIT_NOFILE (see fd_limit.hpp).
#include "sluice/runtime/fd_limit.hpp"

#include <sys/resource.h>

#include <fstream>

#include <fmt/format.h>

namespace sluice {

namespace {

/// The kernel's ceiling for RLIMIT_NOFILE (fs.nr_open); 1048576 when it
/// cannot be read, the kernel's default.
std::uint64_t nr_open() noexcept {
  std::uint64_t n = 0;
  std::ifstream in("/proc/sys/fs/nr_open");
  if (!(in >> n) || n == 0) {
    n = 1u << 20;
  }
  return n;
}

}  // namespace

descriptor_limit raise_descriptor_limit() noexcept {
  descriptor_limit out;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return out;
  }
  out.soft_before = out.soft = rl.rlim_cur;
  out.hard = rl.rlim_max == RLIM_INFINITY ? nr_open() : rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < out.hard) {
    rlimit raised{static_cast<rlim_t>(out.hard), rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      out.soft = out.hard;
    }
  }
  return out;
}

std::string descriptor_warning(std::uint32_t workers, const descriptor_limit& limit) {
  if (limit.soft == 0 || workers + descriptor_reserve <= limit.soft) {
    return {};
  }
  return fmt::format(
      "warning: {} workers but only {} descriptors (ulimit -n; hard limit {}): not every worker "
      "can have a connection, so items wait for a free descriptor; raise the hard limit "
      "(`ulimit -Hn` as root, LimitNOFILE= for a systemd service) or lower workers",
      workers, limit.soft, limit.hard);
}

}  // namespace sluice
