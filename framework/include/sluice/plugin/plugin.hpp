// The plugin API: how a shared library adds stages to sluice, and how the
// host loads one.
//
// A plugin is a shared library (a CMake MODULE, see `sluice_add_plugin`) that
// exports one `extern "C"` function, `sluice_plugin_entry`, returning a
// pointer to a static `sluice::plugin_info`. Write it with the macro:
//
//     void register_my_stages(sluice::registry& reg) { reg.add({...}); }
//     SLUICE_PLUGIN("my_stages", "1.0.0", register_my_stages)
//
// The host `dlopen`s the library, checks `api_version` (the layout of
// plugin_info and the meaning of the entry point) and `abi_tag` (compiler,
// standard library ABI, Boost and sluice versions: C++ types such as
// std::string, std::function and Asio's awaitable cross the boundary, so both
// sides must agree on their layout), then calls `register_stages` on a
// scratch registry and copies the entries into its own. A plugin is never
// unloaded: its code stays referenced by the registry's factories.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/version.hpp>

#include "sluice/stage/registry.hpp"

#ifndef SLUICE_VERSION
#error \
    "SLUICE_VERSION is not defined: link the plugin against sluice::framework (find_package(sluice))"
#endif

/// The version of the plugin entry point and of `sluice::plugin_info`. Bumped
/// whenever either changes incompatibly.
#define SLUICE_PLUGIN_API_VERSION 1

/// The version of the stage API (the classes and structs of
/// `sluice/stage/stage.hpp` and `sluice/core/item.hpp`), part of the ABI tag.
/// 2: item::resume_offset, producer::resumable/skip_to, sink::commit and
/// stage_context::resume_position (resumable runs). 3: stage_info::check_files
/// (sluice/stage/registry.hpp; `sluice check` covers the filesystem).
/// 4: item::request and result::request (requests as data: sluice::request_spec),
/// consumer::origin_limits (per-origin limits in the report), option_type::object_list
/// and option_spec::boolean_shorthand (cookies: true).
#define SLUICE_STAGE_ABI_VERSION 4

/// The name of the symbol every plugin exports.
#define SLUICE_PLUGIN_ENTRY_NAME "sluice_plugin_entry"

#define SLUICE_PLUGIN_DETAIL_STR2(x) #x
#define SLUICE_PLUGIN_DETAIL_STR(x) SLUICE_PLUGIN_DETAIL_STR2(x)

#if defined(__clang__)
#define SLUICE_PLUGIN_DETAIL_COMPILER \
  "clang-" SLUICE_PLUGIN_DETAIL_STR(__clang_major__) "." SLUICE_PLUGIN_DETAIL_STR(__clang_minor__)
#elif defined(__GNUC__)
#define SLUICE_PLUGIN_DETAIL_COMPILER \
  "gcc-" SLUICE_PLUGIN_DETAIL_STR(__GNUC__) "." SLUICE_PLUGIN_DETAIL_STR(__GNUC_MINOR__)
#else
#define SLUICE_PLUGIN_DETAIL_COMPILER "unknown-compiler"
#endif

// The standard library matters as much as the compiler: libstdc++'s dual ABI
// changes the layout of std::string, and debug mode changes every container.
#if defined(_GLIBCXX_RELEASE)
#if defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
#define SLUICE_PLUGIN_DETAIL_STDLIB_ABI "cxx11"
#else
#define SLUICE_PLUGIN_DETAIL_STDLIB_ABI "cxx98"
#endif
#if defined(_GLIBCXX_DEBUG)
#define SLUICE_PLUGIN_DETAIL_STDLIB                                                           \
  "libstdc++-" SLUICE_PLUGIN_DETAIL_STR(_GLIBCXX_RELEASE) "-" SLUICE_PLUGIN_DETAIL_STDLIB_ABI \
                                                          "-debug"
#else
#define SLUICE_PLUGIN_DETAIL_STDLIB \
  "libstdc++-" SLUICE_PLUGIN_DETAIL_STR(_GLIBCXX_RELEASE) "-" SLUICE_PLUGIN_DETAIL_STDLIB_ABI
#endif
#elif defined(_LIBCPP_VERSION)
#define SLUICE_PLUGIN_DETAIL_STDLIB "libc++-" SLUICE_PLUGIN_DETAIL_STR(_LIBCPP_VERSION)
#else
#define SLUICE_PLUGIN_DETAIL_STDLIB "unknown-stdlib"
#endif

/// The ABI tag, computed from the same macros in the host and in a plugin:
/// for example `gcc-12.2;libstdc++-12-cxx11;boost-108100;sluice-0.2.0;stage-4`.
// clang-format off
#define SLUICE_PLUGIN_ABI_TAG                                                    \
  SLUICE_PLUGIN_DETAIL_COMPILER ";" SLUICE_PLUGIN_DETAIL_STDLIB                  \
  ";boost-" SLUICE_PLUGIN_DETAIL_STR(BOOST_VERSION) ";sluice-" SLUICE_VERSION \
  ";stage-" SLUICE_PLUGIN_DETAIL_STR(SLUICE_STAGE_ABI_VERSION)
// clang-format on

/// Marks the entry point as exported even when a plugin builds with hidden
/// visibility.
#if defined(__GNUC__)
#define SLUICE_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SLUICE_PLUGIN_EXPORT
#endif

namespace sluice {

/// What a plugin's entry point returns. `api_version` comes first and keeps
/// its place in every future version, so the host can read it before trusting
/// the rest of the layout. All strings are static (they live as long as the
/// library, which is never unloaded). `register_stages` adds the plugin's
/// stages with `registry::add`; it may throw (the load then fails and the
/// host's registry is left unchanged).
/// Thread safety: an immutable static value.
struct plugin_info {
  std::uint32_t api_version;
  const char* abi_tag;
  const char* name;
  const char* version;
  void (*register_stages)(registry& reg);
};

/// The type of the entry point `sluice_plugin_entry`.
using plugin_entry_fn = const plugin_info* (*)();

/// The host's ABI tag (SLUICE_PLUGIN_ABI_TAG as compiled into the framework).
/// Thread safety: returns a static string.
const char* host_abi_tag() noexcept;

/// The outcome of loading one plugin. `error` is empty on success; otherwise
/// it is a one-line message naming the file and what is wrong, and nothing
/// else is set. `stages` lists the entries added, as `kind name` pairs
/// (`producer sitemap`). `already_loaded` is true when the same file had
/// already been loaded into this registry (nothing was added again).
/// Thread safety: a plain value.
struct plugin_load_result {
  std::string error;
  std::string path;  ///< the canonical path of the library
  std::string name;
  std::string version;
  std::vector<std::string> stages;
  bool already_loaded = false;

  bool ok() const noexcept { return error.empty(); }
};

/// Loads the plugin at `path` into `reg`: `dlopen(RTLD_NOW | RTLD_LOCAL)`,
/// looks up `sluice_plugin_entry`, checks the API version and ABI tag, runs
/// its register function on a scratch registry, and copies every entry into
/// `reg` with `origin` set to the library's path. On any failure `reg` is
/// unchanged and the result carries the message; the failures reported are:
/// the file is missing, it is not a shared library (or cannot be loaded, for
/// example an undefined symbol), it has no entry point, its API version or
/// ABI tag differs from the host's, its register function throws, or one of
/// its stages has the kind and name of an existing entry. Loading the same
/// file into the same registry twice is a no-op. The library is never
/// unloaded, even when the load fails after `dlopen`.
/// Thread safety: may be called from any thread; loads are serialised.
plugin_load_result load_plugin(registry& reg, const std::filesystem::path& path);

}  // namespace sluice

/// Defines the plugin's entry point. `name` and `version` are string literals;
/// `register_fn` is a function `void(sluice::registry&)`. Use once per plugin,
/// at namespace scope, outside any namespace.
#define SLUICE_PLUGIN(name, version, register_fn)                                             \
  extern "C" SLUICE_PLUGIN_EXPORT const ::sluice::plugin_info* sluice_plugin_entry() {        \
    static const ::sluice::plugin_info info{SLUICE_PLUGIN_API_VERSION, SLUICE_PLUGIN_ABI_TAG, \
                                            name, version, &register_fn};                     \
    return &info;                                                                             \
  }
