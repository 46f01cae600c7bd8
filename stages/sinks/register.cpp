// Registration of the result sinks with their option schemas.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/core.h>

#include "sinks.hpp"
#include "sluice/config/config.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/sinks.hpp"

namespace sluice {

namespace {

using namespace stages::sinks;

void append(option_schema& to, const option_schema& more) {
  to.insert(to.end(), more.begin(), more.end());
}

option_schema batching_schema() {
  const batching d{};
  return {bounded_option(make_option("flush_records", option_type::integer, default_of(d.records),
                                     "write after this many buffered results"),
                         1),
          make_option("flush_bytes", option_type::size, default_of_size(d.bytes),
                      "write after this many buffered bytes"),
          make_option("flush_interval", option_type::duration, default_of(d.interval),
                      "write at most this long after a result arrived"),
          make_option("fsync", option_type::boolean, default_of(d.fsync),
                      "fsync after every write (survives power loss, not just a crash)")};
}

// A sink's registry entry before its schema and factory.
stage_info sink_info(std::string name, std::string summary) {
  stage_info info;
  info.kind = stage_kind::sink;
  info.name = std::move(name);
  info.summary = std::move(summary);
  return info;
}

batching batching_from(const options& o) {
  batching b;
  b.records = static_cast<std::size_t>(o.get_int("flush_records"));
  b.bytes = o.get_size("flush_bytes");
  b.interval = o.get_duration("flush_interval");
  b.fsync = o.get_bool("fsync");
  return b;
}

std::filesystem::path output_path(const stage_context& ctx, const std::string& p) {
  if (p == "-") {
    return "/dev/stdout";
  }
  return ctx.resolve(p);
}

bool color_for(const std::string& mode, int fd) {
  if (mode == "always") {
    return true;
  }
  if (mode == "never") {
    return false;
  }
  const char* no_color = std::getenv("NO_COLOR");
  return ::isatty(fd) == 1 && (no_color == nullptr || *no_color == '\0');
}

void register_files_sink(registry& reg) {
  auto info = sink_info(
      "files", "each successful result's body as a file under a directory, written atomically");
  const files_config d{};
  info.schema = {
      required_option("dir", option_type::string,
                      "output directory (relative to the pipeline file)"),
      choice_option("layout", d.store.layout == body_layout::path ? "path" : "hash",
                    {"hash", "path"},
                    "hash: <host>/<sha256 prefix>/<sha256 of the URL>; path: <host>/<URL path>, "
                    "readable and escape-proof"),
      make_option("fsync", option_type::boolean, default_of(d.store.fsync),
                  "fsync each file before its rename and its directory after (power-loss safety)")};
  append(info.schema, retry_schema());
  info.make_sink = [](const stage_context& ctx) {
    files_config c;
    c.store.dir = ctx.resolve(ctx.opts.get_string("dir"));
    c.store.layout =
        ctx.opts.get_string("layout") == "path" ? body_layout::path : body_layout::hash;
    c.store.fsync = ctx.opts.get_bool("fsync");
    c.retry = retry_from(ctx.opts);
    return make_files_sink(ctx, std::move(c));
  };
  reg.add(std::move(info));
}

void register_sqlite_sink(registry& reg) {
  auto info = sink_info(
      "sqlite", "results upserted into a SQLite table keyed by URL (WAL, batched transactions)");
  const sqlite_config d{};
  info.schema = {
      required_option("path", option_type::string, "database file (relative to the pipeline file)"),
      make_option("table", option_type::string, default_of(d.table),
                  "table name (letters, digits, _)"),
      bounded_option(make_option("batch", option_type::integer, default_of(d.batch_rows),
                                 "rows per transaction"),
                     1),
      make_option("batch_interval", option_type::duration, default_of(d.batch_interval),
                  "commit at most this long after a result arrived"),
      make_option("body", option_type::boolean, default_of(d.store_body),
                  "store bodies (inline or as files)"),
      make_option("inline_max", option_type::size, default_of_size(d.inline_max),
                  "bodies up to this size go into the `body` column"),
      make_option("body_dir", option_type::string, d.body_dir.string(),
                  "larger bodies are written here (files sink hash layout); `body_path` holds the "
                  "relative path. Unset: larger bodies are not stored"),
      choice_option("synchronous", d.synchronous_full ? "full" : "normal", {"normal", "full"},
                    "normal survives a crash; full also a power loss (slower)")};
  append(info.schema, retry_schema());
  info.validate = [](const options& o) {
    std::string t = o.get_string("table");
    bool ok =
        !t.empty() && !(t[0] >= '0' && t[0] <= '9') && std::all_of(t.begin(), t.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_';
        });
    if (!ok) {
      throw config_error("table",
                         "table must be letters, digits and '_', not starting with a digit");
    }
  };
  info.make_sink = [](const stage_context& ctx) {
    sqlite_config c;
    c.path = ctx.resolve(ctx.opts.get_string("path"));
    c.table = ctx.opts.get_string("table");
    c.batch_rows = static_cast<std::size_t>(ctx.opts.get_int("batch"));
    c.batch_interval = ctx.opts.get_duration("batch_interval");
    c.store_body = ctx.opts.get_bool("body");
    c.inline_max = ctx.opts.get_size("inline_max");
    if (ctx.opts.has("body_dir") && !ctx.opts.get_string("body_dir").empty()) {
      c.body_dir = ctx.resolve(ctx.opts.get_string("body_dir"));
    }
    c.synchronous_full = ctx.opts.get_string("synchronous") == "full";
    c.retry = retry_from(ctx.opts);
    return make_sqlite_sink(ctx, std::move(c));
  };
  reg.add(std::move(info));
}

void register_csv_sink(registry& reg) {
  auto info = sink_info("csv", "one RFC 4180 CSV record per result");
  const std::string all = join_names(csv_all_columns());
  const csv_config d{};
  info.schema = {
      required_option("path", option_type::string,
                      "CSV file (relative to the pipeline file; - = stdout)"),
      make_option("columns", option_type::string_list, "",
                  "columns in order (default: all): " + all),
      make_option(
          "append", option_type::boolean, default_of(d.append),
          "keep the file's records and append (a torn last record is cut); false empties it"),
      make_option("header", option_type::boolean, default_of(d.header),
                  "write a header record into a new file")};
  append(info.schema, batching_schema());
  append(info.schema, retry_schema());
  info.validate = [](const options& o) {
    if (!o.has("columns")) {
      return;
    }
    config_error_list errs;
    std::size_t i = 0;
    for (const auto& c : o.get_string_list("columns")) {
      const auto& all = csv_all_columns();
      if (std::find(all.begin(), all.end(), c) == all.end()) {
        auto note = did_you_mean_note(c, all);
        errs.add(fmt::format("columns[{}]", i),
                 "unknown csv column '" + c + "'" + (note.empty() ? "" : "; " + note));
      }
      ++i;
    }
    errs.throw_if_any();
  };
  info.make_sink = [](const stage_context& ctx) {
    csv_config c;
    c.path = output_path(ctx, ctx.opts.get_string("path"));
    if (ctx.opts.has("columns")) {
      c.columns = ctx.opts.get_string_list("columns");
    }
    c.header = ctx.opts.get_bool("header");
    c.append = ctx.opts.get_bool("append");
    c.batch = batching_from(ctx.opts);
    c.retry = retry_from(ctx.opts);
    return make_csv_sink(ctx, std::move(c));
  };
  reg.add(std::move(info));
}

}  // namespace

void register_sink_stages(registry& reg) {
  register_jsonl_sink(reg);
  register_stdout_sink(reg);
  register_files_sink(reg);
  register_sqlite_sink(reg);
  register_csv_sink(reg);
}

void register_jsonl_sink(registry& reg) {
  auto info = sink_info(
      "jsonl", "one JSON object per result and line, appended in batches; repairs a torn tail");
  const jsonl_config d{};
  info.schema = {
      required_option("path", option_type::string,
                      "JSON lines file (relative to the pipeline file; - = stdout)"),
      make_option("append", option_type::boolean, default_of(d.append),
                  "keep the file's records and append (a torn last line from a crash is cut); "
                  "false empties the file first"),
      make_option("body", option_type::boolean, default_of(d.json.include_body),
                  "include the body (`body` when UTF-8, else `body_base64`)"),
      make_option("headers", option_type::boolean, default_of(d.json.include_headers),
                  "include the selected response headers")};
  append(info.schema, batching_schema());
  append(info.schema, retry_schema());
  info.make_sink = [](const stage_context& ctx) {
    jsonl_config c;
    c.path = output_path(ctx, ctx.opts.get_string("path"));
    c.append = ctx.opts.get_bool("append");
    c.json.include_body = ctx.opts.get_bool("body");
    c.json.include_headers = ctx.opts.get_bool("headers");
    c.batch = batching_from(ctx.opts);
    c.retry = retry_from(ctx.opts);
    return make_jsonl_sink(ctx, std::move(c));
  };
  reg.add(std::move(info));
}

void register_stdout_sink(registry& reg) {
  auto info = sink_info("stdout", "one human-readable line per result on standard output");
  // The mode, not stdout_config::color: that is what "auto" resolves to.
  info.schema = {choice_option("color", "auto", {"auto", "always", "never"},
                               "auto: when stdout is a terminal and NO_COLOR is unset")};
  info.make_sink = [](const stage_context& ctx) {
    stdout_config c;
    c.color = color_for(ctx.opts.get_string("color"), 1);
    return make_stdout_sink(ctx, c);
  };
  reg.add(std::move(info));
}

}  // namespace sluice
