// Core producers: range (a URL template over an index range), list (inline
// URLs) and file (one URL per line, streamed; `-` reads stdin).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/asio/awaitable.hpp>

#include "core_parts.hpp"
#include "sluice/core/error.hpp"
#include "url_template.hpp"

namespace sluice::stages::core {

namespace {

class range_producer final : public producer {
 public:
  explicit range_producer(const stage_context& ctx)
      : tmpl_(ctx.opts.get_string("url")),
        next_(ctx.opts.get_int("from")),
        to_(ctx.opts.get_int("to")),
        step_(ctx.opts.get_int("step")) {}

  boost::asio::awaitable<bool> next(std::vector<item>& out, std::size_t max) override {
    for (std::size_t n = 0; n < max && next_ < to_; ++n, next_ += step_) {
      item it;
      it.index = static_cast<std::uint64_t>(next_);
      tmpl_.expand(next_, it.url);
      out.push_back(std::move(it));
    }
    co_return next_ < to_;
  }

  std::optional<std::uint64_t> total() const override {
    return next_ >= to_ ? 0 : static_cast<std::uint64_t>((to_ - next_ + step_ - 1) / step_);
  }

  bool resumable() const override { return true; }
  void skip_to(std::uint64_t count, std::uint64_t) override {
    auto left = static_cast<std::uint64_t>(*total());
    next_ = count >= left ? to_ : next_ + static_cast<std::int64_t>(count) * step_;
  }

 private:
  url_template tmpl_;
  std::int64_t next_, to_, step_;
};

class list_producer final : public producer {
 public:
  explicit list_producer(const stage_context& ctx) : urls_(ctx.opts.get_string_list("urls")) {}

  boost::asio::awaitable<bool> next(std::vector<item>& out, std::size_t max) override {
    for (std::size_t n = 0; n < max && pos_ < urls_.size(); ++n, ++pos_) {
      out.push_back(item{urls_[pos_], pos_});
    }
    co_return pos_ < urls_.size();
  }

  std::optional<std::uint64_t> total() const override { return urls_.size() - pos_; }

  bool resumable() const override { return true; }
  void skip_to(std::uint64_t count, std::uint64_t) override {
    pos_ = static_cast<std::size_t>(std::min<std::uint64_t>(count, urls_.size()));
  }

 private:
  std::vector<std::string> urls_;
  std::size_t pos_ = 0;
};

class file_producer final : public producer {
 public:
  explicit file_producer(const stage_context& ctx) {
    auto path = ctx.opts.get_string("path");
    stdin_ = path == "-";
    if (stdin_) {
      in_ = &std::cin;
    } else {
      file_.open(ctx.resolve(path));
      if (!file_) {
        throw config_error("path", "cannot open URL file '" + ctx.resolve(path).string() + "'");
      }
      in_ = &file_;
    }
  }

  // Reads synchronously on the stage's strand: files are local and buffered;
  // a batch bounds how long one call holds the thread.
  boost::asio::awaitable<bool> next(std::vector<item>& out, std::size_t max) override {
    std::string line;
    while (out.size() < max && std::getline(*in_, line)) {
      ++line_no_;
      // Counted, not tellg(): the offset of the next line, for resuming.
      offset_ += line.size() + 1;
      auto b = line.find_first_not_of(" \t\r");
      if (b == std::string::npos || line[b] == '#') {
        continue;
      }
      auto e = line.find_last_not_of(" \t\r");
      item it{line.substr(b, e - b + 1), index_++};
      it.resume_offset = offset_;
      out.push_back(std::move(it));
    }
    co_return static_cast<bool>(*in_);
  }

  // A file resumes at a byte offset; stdin cannot be read again.
  bool resumable() const override { return !stdin_; }
  void skip_to(std::uint64_t count, std::uint64_t offset) override {
    file_.seekg(static_cast<std::streamoff>(offset));
    offset_ = offset;
    index_ = count;
  }

 private:
  bool stdin_ = false;
  std::uint64_t offset_ = 0;
  std::ifstream file_;
  std::istream* in_ = nullptr;
  std::uint64_t line_no_ = 0;
  std::uint64_t index_ = 0;
};

}  // namespace

void register_producers(registry& reg) {
  stage_info range{.kind = stage_kind::producer,
                   .name = "range",
                   .summary = "URLs from a template over an index range: {i}, zero-padded {i:06}",
                   .schema = {
                       {.name = "url",
                        .required = true,
                        .doc = "URL template; {i} is the index, {i:06} zero-pads to 6 digits"},
                       {.name = "from",
                        .type = option_type::integer,
                        .default_value = "0",
                        .doc = "first index (inclusive)"},
                       {.name = "to",
                        .type = option_type::integer,
                        .required = true,
                        .doc = "end index (exclusive)"},
                       {.name = "step",
                        .type = option_type::integer,
                        .default_value = "1",
                        .doc = "index increment",
                        .minimum = 1},
                   }};
  range.validate = [](const options& o) {
    config_error_list errs;
    errs.check([&] {
      try {
        url_template t(o.get_string("url"));
      } catch (const std::invalid_argument& e) {
        throw config_error("url", e.what());
      }
    });
    if (o.get_int("to") < o.get_int("from")) {
      errs.add("to", "'to' must not be less than 'from'");
    }
    errs.throw_if_any();
  };
  range.make_producer = [](const stage_context& ctx) {
    return std::make_unique<range_producer>(ctx);
  };
  reg.add(std::move(range));

  reg.add({.kind = stage_kind::producer,
           .name = "list",
           .summary = "URLs listed inline in the pipeline file",
           .schema = {{.name = "urls",
                       .type = option_type::string_list,
                       .required = true,
                       .doc = "the URLs, in order"}},
           .make_producer = [](const stage_context& ctx) {
             return std::make_unique<list_producer>(ctx);
           }});

  reg.add({.kind = stage_kind::producer,
           .name = "file",
           .summary = "URLs read from a file, one per line (streamed; # comments and blank lines "
                      "skipped; - is stdin)",
           .schema = {{.name = "path",
                       .required = true,
                       .doc = "file of URLs, relative to the pipeline file; - reads stdin"}},
           .make_producer =
               [](const stage_context& ctx) { return std::make_unique<file_producer>(ctx); },
           // `check` finds a missing URL file, not only `run`.
           .check_files =
               [](const stage_context& ctx) {
                 const auto path = ctx.opts.get_string("path");
                 std::error_code ec;
                 if (path != "-" && !std::filesystem::is_regular_file(ctx.resolve(path), ec)) {
                   throw config_error("path",
                                      "no such URL file '" + ctx.resolve(path).string() + "'");
                 }
               }});
}

}  // namespace sluice::stages::core
