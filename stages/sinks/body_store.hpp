// Where and how response bodies are stored on disk: the safe path layouts
// and the temp-file-then-rename write. Used by the `files` sink and by the
// `sqlite` sink for bodies too large to keep inline.
// Internal to stages/sinks (and its tests); not part of the public API.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "sluice/core/item.hpp"

namespace sluice::stages::sinks {

/// Lowercase hex SHA-256 of `data` (OpenSSL EVP).
/// Thread safety: a pure function.
std::string sha256_hex(std::string_view data);

/// How a URL becomes a path under the output directory.
enum class body_layout {
  hash,  ///< `<host>/<first 2 hex of sha256(url)>/<sha256(url)>`
  path,  ///< `<host>/<decoded URL path, each unsafe byte as %XX>`, readable
};

/// The per-host directory name: host, then `_port` when the URL has one;
/// `_invalid` when the URL does not parse. Bytes other than letters, digits,
/// `.`, `-` and `_` (and a leading `.`) become `%XX`.
/// Thread safety: a pure function.
std::string host_dir(std::string_view url);

/// The hash layout's relative path for `url`.
/// Thread safety: a pure function.
std::filesystem::path hash_path(std::string_view url);

/// The readable layout's relative path for `url`, before collisions are
/// resolved: the host directory, then the URL's path segments percent-decoded
/// once and re-encoded so the name is safe (`/`, `\`, NUL, control bytes, `%`
/// and a leading `.` of `.`/`..` as `%XX`), empty segments dropped, a trailing
/// `/` stored as `index.html`, the query appended as `?query`. A component
/// longer than 200 bytes is cut and suffixed with `~` and 16 hex of its hash.
/// Returns an empty path when the URL is too deep or long for a readable name
/// (the caller then uses the fallback under `.by-hash/`).
/// Thread safety: a pure function.
std::filesystem::path readable_path(std::string_view url);

/// True when `rel` is a safe relative path: not empty, not absolute, every
/// component non-empty, not `.` or `..`, at most 255 bytes, with no `/`,
/// backslash or NUL.
/// Thread safety: a pure function.
bool is_safe_relative(const std::filesystem::path& rel);

/// What a body_store does.
struct body_store_options {
  std::filesystem::path dir;
  body_layout layout = body_layout::hash;
  bool fsync = false;  ///< fsync each file before its rename and its directory after
};

/// Writes bodies under `dir`. Every file is written to `dir/.sluice-tmp/`
/// first and renamed to its final name, so a final name never holds a partial
/// body; leftovers in `.sluice-tmp` from a crash are removed on construction.
/// A body the consumer streamed to a temporary file is hard-linked (or, when
/// that is impossible, renamed) into place, so it is never copied through
/// memory; across file systems it is copied by the kernel (copy_file_range).
/// Thread safety: one strand at a time.
class body_store {
 public:
  /// Creates `dir` and cleans its temporary area. Throws std::system_error.
  explicit body_store(body_store_options opts);

  /// Stores the body of `r` and returns its path relative to `dir`. Throws
  /// std::system_error (nothing is left under the final name then); calling
  /// again for the same result is safe.
  std::filesystem::path store(const result& r);

  /// The relative path `store` would choose for a URL in the hash layout.
  std::filesystem::path hash_location(std::string_view url) const { return hash_path(url); }

  /// fsync the directories renamed into since the last call (with `fsync`).
  void sync_dirs();
  /// syncfs(2) on the file system of the directory: every file stored so
  /// far is on disk. Throws std::system_error.
  void sync_all();

  const std::filesystem::path& dir() const noexcept { return opts_.dir; }

 private:
  std::filesystem::path choose(const std::string& url);
  bool make_parents(const std::filesystem::path& rel);
  void write_temp(const result& r, const std::filesystem::path& tmp);

  body_store_options opts_;
  std::filesystem::path tmp_dir_;
  std::map<std::filesystem::path, std::string> claimed_;  ///< readable path -> URL, this run
  std::set<std::filesystem::path> dirty_dirs_;
  std::uint64_t counter_ = 0;
};

}  // namespace sluice::stages::sinks
