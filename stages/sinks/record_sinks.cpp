// The append-only sinks `jsonl` and `csv`: records are formatted into a
// buffer and appended in batches (by count, size and time) to a file whose
// torn tail, if a crash left one, is cut when it is opened.
#include <fmt/format.h>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include "sinks.hpp"
#include "sluice/core/json_text.hpp"

namespace sluice::stages::sinks {

namespace net = boost::asio;

namespace {

class record_sink : public sink {
 public:
  record_sink(const stage_context& ctx, const std::filesystem::path& path, record_format format,
              bool append, batching batch, retry_policy retry)
      : ctx_(ctx), batch_(batch), retry_(retry), timer_(ctx.executor) {
    // Resuming, the file is cut back to its last commit; otherwise emptied
    // unless `append`.
    const bool resuming = ctx.resume_position.has_value();
    file_ = std::make_unique<append_file>(path, format, !append && !resuming);
    if (resuming) {
      file_->cut_to(std::stoull(ctx.resume_position->empty() ? "0" : *ctx.resume_position));
    } else if (file_->repaired_bytes() > 0) {
      ctx_.log(log_level::warn,
               fmt::format("{}: removed a torn last record ({} bytes) left by an earlier crash",
                           path.string(), file_->repaired_bytes()));
    }
  }

  // Everything written so far is appended and fsync'd; the position is the
  // file's size, which a resumed run cuts the file back to.
  net::awaitable<std::optional<std::string>> commit() override {
    co_await timer_.drain();
    co_await flush();
    auto* file = file_.get();
    std::string what = "syncing " + file->path().string();
    std::function<void()> step = [file] { file->sync(); };
    co_await with_retries(ctx_, retry_, std::move(what), std::move(step), true);
    co_return std::to_string(file_->size());
  }

  net::awaitable<void> write(const std::vector<result_ptr>& batch) override {
    timer_.rethrow();
    for (const auto& r : batch) {
      format(*r, buffer_);
      ++records_;
    }
    co_await timer_.flush_or_arm(records_ >= batch_.records || buffer_.size() >= batch_.bytes,
                                 !buffer_.empty(), batch_.interval, [this] { return flush(); });
  }

  net::awaitable<void> close() override {
    co_await timer_.close([this] { return flush(); });
  }

 protected:
  virtual void format(const result& r, std::string& out) = 0;

  // Appends directly, for a header written before any record.
  void append_now(const std::string& data) { file_->append(data); }
  std::uint64_t file_size() const { return file_->size(); }

 private:
  net::awaitable<void> flush() {
    if (buffer_.empty()) {
      co_return;
    }
    // Take the data out first: a timer flush and a write flush may interleave
    // while one of them waits to retry.
    auto data = std::make_shared<std::string>(std::move(buffer_));
    buffer_.clear();
    records_ = 0;
    auto appended = std::make_shared<bool>(false);
    append_file* file = file_.get();
    bool do_sync = batch_.fsync;
    std::string what = "writing " + file->path().string();
    // Named locals, not temporaries, in the co_await: g++ 12 mishandles the
    // lifetime of non-trivial temporaries there.
    std::function<void()> step = [=] {
      // append() leaves nothing behind when it fails, so a retry is exact;
      // once appended, only the fsync is retried.
      if (!*appended) {
        file->append(*data);
        *appended = true;
      }
      if (do_sync) {
        file->sync();
      }
    };
    co_await with_retries(ctx_, retry_, std::move(what), std::move(step));
  }

  stage_context ctx_;
  batching batch_;
  retry_policy retry_;
  std::unique_ptr<append_file> file_;
  std::string buffer_;
  std::size_t records_ = 0;
  flush_timer timer_;
};

class jsonl_sink final : public record_sink {
 public:
  jsonl_sink(const stage_context& ctx, jsonl_config cfg)
      : record_sink(ctx, cfg.path, record_format::lines, cfg.append, cfg.batch, cfg.retry),
        json_(cfg.json) {}

  bool wants_bodies() const override { return json_.include_body; }

 protected:
  void format(const result& r, std::string& out) override {
    sluice::append_json_text(out, result_to_json(r, json_));
    out += '\n';
  }

 private:
  json_options json_;
};

std::string ms(std::chrono::nanoseconds d) {
  return fmt::format("{:.3f}", to_ms(d));
}

// Every CSV column, in the default order, with how it reads a result.
struct csv_column {
  const char* name;
  std::string (*value)(const result& r);
};

const std::vector<csv_column>& csv_columns() {
  static const std::vector<csv_column> all = {
      {"url", [](const result& r) { return r.url; }},
      {"final_url", [](const result& r) { return r.final_url; }},
      {"ok", [](const result& r) { return std::string(r.ok() ? "true" : "false"); }},
      {"status", [](const result& r) { return std::to_string(r.status); }},
      {"error_kind", [](const result& r) { return r.error_kind; }},
      {"error_message", [](const result& r) { return r.error_message; }},
      {"attempts", [](const result& r) { return std::to_string(r.attempts); }},
      {"redirects", [](const result& r) { return std::to_string(r.redirects); }},
      {"bytes", [](const result& r) { return std::to_string(r.bytes); }},
      {"content_type", [](const result& r) { return r.content_type; }},
      {"index", [](const result& r) { return std::to_string(r.index); }},
      {"producer", [](const result& r) { return std::to_string(r.producer); }},
      {"worker", [](const result& r) { return std::to_string(r.worker); }},
      {"queue_ms", [](const result& r) { return ms(r.time.queue); }},
      {"dns_ms", [](const result& r) { return ms(r.time.dns); }},
      {"connect_ms", [](const result& r) { return ms(r.time.connect); }},
      {"tls_ms", [](const result& r) { return ms(r.time.tls); }},
      {"ttfb_ms", [](const result& r) { return ms(r.time.ttfb); }},
      {"total_ms", [](const result& r) { return ms(r.time.total); }},
      {"stored_at", [](const result&) { return utc_now_rfc3339(); }},
      // The item's meta object as JSON text in one column (any keys, nested
      // values kept); empty when it has none.
      {"meta", [](const result& r) { return r.request ? r.request->meta : std::string(); }},
  };
  return all;
}

const csv_column& csv_column_named(const std::string& name) {
  for (const auto& c : csv_columns()) {
    if (name == c.name) {
      return c;
    }
  }
  throw std::logic_error("unknown csv column " + name);
}

class csv_sink final : public record_sink {
 public:
  csv_sink(const stage_context& ctx, csv_config cfg)
      : record_sink(ctx, cfg.path, record_format::csv, cfg.append, cfg.batch, cfg.retry) {
    for (const auto& name : cfg.columns.empty() ? csv_all_columns() : cfg.columns) {
      columns_.push_back(&csv_column_named(name));
    }
    if (cfg.header && file_size() == 0) {
      std::string line;
      for (std::size_t i = 0; i < columns_.size(); ++i) {
        line += (i ? "," : "") + csv_field(columns_[i]->name);
      }
      append_now(line + "\r\n");
    }
  }

  bool wants_bodies() const override { return false; }  // no csv column holds a body

 protected:
  void format(const result& r, std::string& out) override {
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i) {
        out += ',';
      }
      out += csv_field(columns_[i]->value(r));
    }
    out += "\r\n";
  }

 private:
  std::vector<const csv_column*> columns_;
};

}  // namespace

const std::vector<std::string>& csv_all_columns() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> names;
    for (const auto& c : csv_columns()) {
      names.emplace_back(c.name);
    }
    return names;
  }();
  return all;
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(s);
  }
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') {
      out += "\"\"";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::unique_ptr<sink> make_jsonl_sink(const stage_context& ctx, jsonl_config cfg) {
  return std::make_unique<jsonl_sink>(ctx, std::move(cfg));
}

std::unique_ptr<sink> make_csv_sink(const stage_context& ctx, csv_config cfg) {
  return std::make_unique<csv_sink>(ctx, std::move(cfg));
}

}  // namespace sluice::stages::sinks
