// Where the http consumer puts a response's decoded body: in the result's
// memory up to `memory_body`, then in a temporary file; every byte counted
// against `max_decoded`. No network, no Beast: unit-tested on its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "outcome.hpp"
#include "sluice/core/item.hpp"

namespace sluice::stages::http {

/// Names the temporary files of one consumer: `http-<pid>-<worker>-<n>.body`
/// in its directory.
/// Thread safety: `next` from any thread.
class temp_files {
 public:
  explicit temp_files(std::filesystem::path dir);
  std::filesystem::path next(std::uint32_t worker);
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::atomic<std::uint64_t> counter_{0};
};

/// The body of the current response of one item, written into its result
/// (`body`, or `body_file` once finished; `bytes` always).
/// Thread safety: one owner (the worker fetching the item).
class body_sink {
 public:
  struct limits {
    std::uint64_t max_decoded = 0;  ///< more decoded bytes fail as body_limit
    std::uint64_t memory_body = 0;  ///< more go to a temporary file
    bool keep = true;               ///< false: count the bytes, store nothing
  };

  body_sink(result& r, limits l, temp_files& files, std::uint32_t worker)
      : r_(r), limits_(l), files_(files), worker_(worker) {}
  body_sink(const body_sink&) = delete;
  body_sink& operator=(const body_sink&) = delete;
  ~body_sink() { close_file(); }

  /// The response announced `length` bytes of body, not encoded: reserve
  /// memory for it when it will stay in memory.
  void expect(std::uint64_t length);

  /// Appends decoded bytes; a failure (body_limit, body_file) ends the body.
  std::optional<fetch_failure> append(const char* p, std::size_t n);

  /// The body is complete: a temporary file is flushed, closed and named in
  /// `result::body_file`.
  std::optional<fetch_failure> finish();

  /// Forgets the current response (a retry or a redirect follows): its file
  /// is removed and the result's status, body, headers and bytes cleared.
  void discard();

  bool keeps_body() const { return limits_.keep; }

 private:
  std::optional<fetch_failure> spill();
  void close_file();

  result& r_;
  limits limits_;
  temp_files& files_;
  std::uint32_t worker_;
  std::FILE* file_ = nullptr;
  std::filesystem::path path_;
};

}  // namespace sluice::stages::http
