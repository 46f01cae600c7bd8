// The result sinks, constructible without the registry (for tests): each has
// a config struct, filled from validated options by its registered factory.
// Internal to stages/sinks (and its tests); not part of the public API.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "body_store.hpp"
#include "common.hpp"
#include "sluice/stage/stage.hpp"

namespace sluice::stages::sinks {

/// `files`: every successful result's body under a directory.
struct files_config {
  body_store_options store;
  retry_policy retry;
};
std::unique_ptr<sink> make_files_sink(const stage_context& ctx, files_config cfg);

/// Batching shared by the append-only sinks: write when this many records or
/// bytes are buffered, or this long after the first unwritten record.
struct batching {
  std::size_t records = 1000;
  std::uint64_t bytes = 1 << 20;
  std::chrono::nanoseconds interval = std::chrono::seconds(1);
  bool fsync = false;  ///< fsync after every write and on close
};

/// `jsonl`: one JSON object per result and line.
struct jsonl_config {
  std::filesystem::path path;
  bool append = false;  ///< keep what is there (repairing a torn tail); false truncates
  json_options json;
  batching batch;
  retry_policy retry;
};
std::unique_ptr<sink> make_jsonl_sink(const stage_context& ctx, jsonl_config cfg);

/// The CSV columns available, in the default order.
const std::vector<std::string>& csv_all_columns();

/// `csv`: one RFC 4180 record per result.
struct csv_config {
  std::filesystem::path path;
  bool append = false;  ///< keep what is there (repairing a torn tail); false truncates
  std::vector<std::string> columns;  ///< empty: csv_all_columns()
  bool header = true;                ///< write a header record into an empty file
  batching batch;
  retry_policy retry;
};
std::unique_ptr<sink> make_csv_sink(const stage_context& ctx, csv_config cfg);

/// One CSV field, quoted when it holds `,`, `"`, CR or LF (RFC 4180).
std::string csv_field(std::string_view s);

/// `sqlite`: a `results` table keyed by URL, upserted in batched transactions.
struct sqlite_config {
  std::filesystem::path path;
  std::string table = "results";
  std::size_t batch_rows = 500;
  std::chrono::nanoseconds batch_interval = std::chrono::seconds(1);
  bool store_body = true;
  std::uint64_t inline_max = 64 * 1024;  ///< larger bodies go to body_dir
  std::filesystem::path body_dir;        ///< empty: larger bodies are not stored
  bool synchronous_full = false;         ///< PRAGMA synchronous=FULL instead of NORMAL
  retry_policy retry;
};
std::unique_ptr<sink> make_sqlite_sink(const stage_context& ctx, sqlite_config cfg);

/// The CREATE TABLE statement of the results table (documented in docs/sinks.md).
std::string sqlite_schema(const std::string& table);

/// `stdout`: one human line per result.
struct stdout_config {
  bool color = false;
  bool show_errors_message = true;
};
std::unique_ptr<sink> make_stdout_sink(const stage_context& ctx, stdout_config cfg);

/// The stdout sink's line for one result (no newline).
std::string human_line(const result& r, bool color);

}  // namespace sluice::stages::sinks
