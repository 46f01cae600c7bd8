// The run's temporary directory (`$TMPDIR/sluice-XXXXXX`, where the http
// consumer streams large bodies): made with an owner file, swept when its
// owner died without removing it (kill -9, a crash), and emptied as it
// goes: a streamed body is unlinked when the last sink is done with it.
// Internal to the framework.
#pragma once

#include <filesystem>

#include "sluice/stage/stage.hpp"

namespace sluice::detail {

/// Removes `root/sluice-XXXXXX` directories whose owner file names a
/// process that no longer exists; leaves every other directory alone (no
/// owner file, a live or unknown owner). Returns how many it removed.
/// Thread safety: safe to call concurrently (removal races are ignored).
std::size_t sweep_stale_temp_dirs(const std::filesystem::path& root);

/// Sweeps, then makes a fresh private run directory under the system temp
/// directory with this process as its owner; empty path when that fails.
/// Thread safety: safe to call concurrently.
std::filesystem::path make_run_temp_dir();

/// Shares a finished result with the sinks. When its body was streamed to
/// a file inside `temp_dir`, the file is removed with the last reference
/// (the last sink done with it, or the result dropped); a body_file
/// elsewhere (a plugin's own file) is never touched.
/// Thread safety: the returned pointer follows shared_ptr's rules.
result_ptr share_result(result&& r, const std::filesystem::path& temp_dir);

}  // namespace sluice::detail
