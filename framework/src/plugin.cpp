// The plugin loader: dlopen, entry point, version and ABI checks, and an
// all-or-nothing copy of the plugin's stages into the host registry.
#include "sluice/plugin/plugin.hpp"

#include <dlfcn.h>

#include <array>
#include <exception>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace sluice {

namespace {

/// Loads are serialised: the clash check and the copy into the registry must
/// not interleave with another plugin's, and dlerror() is per thread anyway.
std::mutex& load_mutex() {
  static std::mutex m;
  return m;
}

/// True when the file starts with the ELF magic. dlopen's own message for a
/// text file ("invalid ELF header", "file too short") is accurate but cryptic;
/// checking first lets us say "not a shared library" and keep dlopen's text
/// for real loader failures such as an undefined symbol.
bool has_elf_magic(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::array<char, 4> magic{};
  if (!in.read(magic.data(), magic.size())) {
    return false;
  }
  return magic == std::array<char, 4>{'\x7f', 'E', 'L', 'F'};
}

std::string last_dl_error() {
  const char* e = dlerror();
  return e != nullptr ? std::string(e) : std::string("unknown error");
}

plugin_load_result fail(std::string message) {
  plugin_load_result r;
  r.error = std::move(message);
  return r;
}

}  // namespace

const char* host_abi_tag() noexcept {
  return SLUICE_PLUGIN_ABI_TAG;
}

plugin_load_result load_plugin(registry& reg, const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    return fail(fmt::format("plugin file not found: {}", path.string()));
  }
  if (std::filesystem::is_directory(status)) {
    return fail(fmt::format("plugin path is a directory, not a shared library: {}", path.string()));
  }
  auto canonical = std::filesystem::canonical(path, ec);
  if (ec) {
    canonical = std::filesystem::absolute(path);
  }
  const std::string where = canonical.string();
  if (!has_elf_magic(canonical)) {
    return fail(fmt::format("not a shared library: {} (no ELF header)", where));
  }

  std::lock_guard lock(load_mutex());
  // RTLD_LOCAL keeps the plugin's symbols out of the global scope, so two
  // plugins cannot interpose on each other; the plugin still binds to the
  // host's framework library, which is already loaded. The handle is never
  // closed: the registry's factories point into the library's code.
  dlerror();
  void* handle = dlopen(where.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return fail(fmt::format("cannot load plugin {}: {}", where, last_dl_error()));
  }
  dlerror();
  void* sym = dlsym(handle, SLUICE_PLUGIN_ENTRY_NAME);
  if (sym == nullptr) {
    return fail(
        fmt::format("{} is a shared library but not a sluice plugin: it does not export `{}` "
                    "(define it with SLUICE_PLUGIN(name, version, register_fn))",
                    where, SLUICE_PLUGIN_ENTRY_NAME));
  }
  const auto entry = reinterpret_cast<plugin_entry_fn>(sym);
  const plugin_info* info = nullptr;
  try {
    info = entry();
  } catch (const std::exception& e) {
    return fail(
        fmt::format("plugin {}: `{}` threw: {}", where, SLUICE_PLUGIN_ENTRY_NAME, e.what()));
  }
  if (info == nullptr) {
    return fail(fmt::format("plugin {}: `{}` returned null", where, SLUICE_PLUGIN_ENTRY_NAME));
  }
  // Only api_version may be read before it is checked: the rest of the
  // layout belongs to that version.
  if (info->api_version != SLUICE_PLUGIN_API_VERSION) {
    return fail(fmt::format(
        "plugin {} uses plugin API version {}, but this sluice ({}) supports version {}; "
        "rebuild the plugin against this sluice",
        where, info->api_version, SLUICE_VERSION, SLUICE_PLUGIN_API_VERSION));
  }
  const std::string name = info->name != nullptr ? info->name : "";
  const std::string version = info->version != nullptr ? info->version : "";
  const std::string tag = info->abi_tag != nullptr ? info->abi_tag : "";
  if (tag != host_abi_tag()) {
    return fail(
        fmt::format("plugin '{}' ({}) was built for ABI '{}', but this sluice is '{}'; "
                    "rebuild the plugin with the same compiler, Boost and sluice",
                    name, where, tag, host_abi_tag()));
  }
  if (info->register_stages == nullptr) {
    return fail(fmt::format("plugin '{}' ({}) has no register function", name, where));
  }

  // Register into a scratch registry first: a plugin that throws half-way, or
  // whose stages clash with existing ones, leaves the host registry as it was.
  registry scratch;
  try {
    info->register_stages(scratch);
  } catch (const std::exception& e) {
    return fail(
        fmt::format("plugin '{}' ({}) failed to register its stages: {}", name, where, e.what()));
  } catch (...) {
    return fail(fmt::format("plugin '{}' ({}) failed to register its stages: unknown exception",
                            name, where));
  }

  plugin_load_result result;
  result.path = where;
  result.name = name;
  result.version = version;
  std::vector<stage_info> to_add;
  bool any_already = false;
  for (const stage_info* s : scratch.all()) {
    result.stages.push_back(fmt::format("{} {}", to_string(s->kind), s->name));
    if (const stage_info* existing = reg.find(s->kind, s->name)) {
      if (existing->origin == where) {
        any_already = true;
        continue;
      }
      return fail(
          fmt::format("plugin '{}' ({}) registers {} '{}', which already exists (from {}); "
                      "stage names must be unique per kind",
                      name, where, to_string(s->kind), s->name, existing->origin));
    }
    stage_info copy = *s;
    copy.origin = where;
    to_add.push_back(std::move(copy));
  }
  result.already_loaded = any_already && to_add.empty();
  for (auto& s : to_add) {
    reg.add(std::move(s));
  }
  return result;
}

}  // namespace sluice
