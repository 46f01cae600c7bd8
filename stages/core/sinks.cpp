// Core sinks: stdout (one human line per result), jsonl (one JSON object per
// line, flushed per batch) and null (discards).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/core.h>
#include <boost/json/serialize.hpp>

#include "core_parts.hpp"
#include "sluice/core/error.hpp"
#include "sluice/core/result_json.hpp"
#include "sluice/stages/core.hpp"

namespace sluice {

namespace {

class null_sink final : public sink {
 public:
  boost::asio::awaitable<void> write(const std::vector<result_ptr>&) override { co_return; }
};

class stdout_sink final : public sink {
 public:
  boost::asio::awaitable<void> write(const std::vector<result_ptr>& batch) override {
    std::string out;
    for (const auto& r : batch) {
      if (r->ok()) {
        out += fmt::format("{:>3} {:>9}B {:>9} {}\n", r->status ? std::to_string(r->status) : "ok",
                           r->bytes, format_duration(r->time.total), r->url);
      } else {
        out += fmt::format("ERR {} {} ({})\n", r->error_kind, r->url, r->error_message);
      }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    co_return;
  }
};

class jsonl_sink final : public sink {
 public:
  explicit jsonl_sink(const stage_context& ctx)
      : path_(ctx.resolve(ctx.opts.get_string("path"))), body_(ctx.opts.get_bool("body")) {
    if (path_.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(path_.parent_path(), ec);
    }
    file_ = std::fopen(path_.c_str(), ctx.opts.get_bool("append") ? "ab" : "wb");
    if (!file_) {
      throw config_error("path", fmt::format("cannot open '{}' for writing: {}", path_.string(),
                                             std::strerror(errno)));
    }
  }
  ~jsonl_sink() override {
    if (file_) {
      std::fclose(file_);
    }
  }

  boost::asio::awaitable<void> write(const std::vector<result_ptr>& batch) override {
    buffer_.clear();
    for (const auto& r : batch) {
      buffer_ += boost::json::serialize(result_to_json(*r, body_));
      buffer_ += '\n';
    }
    // Whole lines per batch, then flush: a graceful stop never tears a line.
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size() ||
        std::fflush(file_) != 0) {
      throw std::runtime_error(
          fmt::format("writing '{}' failed: {}", path_.string(), std::strerror(errno)));
    }
    co_return;
  }

  boost::asio::awaitable<void> close() override {
    if (file_ && std::fclose(file_) != 0) {
      file_ = nullptr;
      throw std::runtime_error(fmt::format("closing '{}' failed", path_.string()));
    }
    file_ = nullptr;
    co_return;
  }

 private:
  std::filesystem::path path_;
  bool body_;
  std::FILE* file_ = nullptr;
  std::string buffer_;
};

}  // namespace

void register_core_sinks(registry& reg) {
  reg.add({.kind = stage_kind::sink,
           .name = "null",
           .summary = "discards every result (benchmarks)",
           .make_sink = [](const stage_context&) { return std::make_unique<null_sink>(); }});
  reg.add({.kind = stage_kind::sink,
           .name = "stdout",
           .summary = "prints one human-readable line per result",
           .make_sink = [](const stage_context&) { return std::make_unique<stdout_sink>(); }});
  reg.add(
      {.kind = stage_kind::sink,
       .name = "jsonl",
       .summary = "one JSON object per result per line",
       .schema = {{.name = "path",
                   .required = true,
                   .doc = "output file, relative to the pipeline file; directories are created"},
                  {.name = "append",
                   .type = option_type::boolean,
                   .default_value = "false",
                   .doc = "append instead of truncating"},
                  {.name = "body",
                   .type = option_type::boolean,
                   .default_value = "false",
                   .doc = "include in-memory bodies as a `body` string"}},
       .make_sink = [](const stage_context& ctx) { return std::make_unique<jsonl_sink>(ctx); }});
}

void register_core_stages(registry& reg) {
  register_core_producers(reg);
  register_core_consumers(reg);
  register_core_sinks(reg);
}

}  // namespace sluice
