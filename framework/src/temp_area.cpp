#include "temp_area.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>
#include <system_error>

namespace sluice::detail {

namespace {

constexpr const char* k_owner_file = ".sluice-owner";
constexpr std::string_view k_prefix = "sluice-";

/// True unless `pid` certainly does not exist (kill says ESRCH).
bool may_be_alive(long pid) {
  if (pid <= 0) {
    return true;  // unreadable: keep it
  }
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

}  // namespace

std::size_t sweep_stale_temp_dirs(const std::filesystem::path& root) {
  std::size_t removed = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    // mkdtemp's names only: sluice- and six characters.
    if (name.size() != k_prefix.size() + 6 || !name.starts_with(k_prefix)) {
      continue;
    }
    std::error_code dec;
    if (!it->is_directory(dec) || it->is_symlink(dec)) {
      continue;
    }
    std::ifstream owner(it->path() / k_owner_file);
    long pid = 0;
    if (!(owner >> pid) || may_be_alive(pid)) {
      continue;
    }
    std::error_code rec;
    if (std::filesystem::remove_all(it->path(), rec) > 0 && !rec) {
      ++removed;
    }
  }
  return removed;
}

std::filesystem::path make_run_temp_dir() {
  std::error_code ec;
  auto root = std::filesystem::temp_directory_path(ec);
  if (ec) {
    return {};
  }
  sweep_stale_temp_dirs(root);
  std::string tmpl = (root / "sluice-XXXXXX").string();
  char* dir = ::mkdtemp(tmpl.data());
  if (dir == nullptr) {
    return {};
  }
  std::filesystem::path p(dir);
  std::ofstream(p / k_owner_file) << ::getpid() << '\n';
  return p;
}

result_ptr share_result(result&& r, const std::filesystem::path& temp_dir) {
  bool ours = false;
  if (!r.body_file.empty() && !temp_dir.empty()) {
    auto parent = std::filesystem::path(r.body_file).parent_path();
    ours = parent == temp_dir || parent.parent_path() == temp_dir;
  }
  if (!ours) {
    return std::make_shared<const result>(std::move(r));
  }
  return result_ptr(new result(std::move(r)), [](const result* p) {
    std::error_code ec;
    std::filesystem::remove(p->body_file, ec);  // gone already (renamed into place): fine
    delete p;
  });
}

}  // namespace sluice::detail
