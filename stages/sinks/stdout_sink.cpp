// The `stdout` sink: one human line per result, coloured on a terminal.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "sinks.hpp"
#include "sluice/runtime/progress.hpp"
#include "sluice/stage/options.hpp"

namespace sluice::stages::sinks {

namespace net = boost::asio;

namespace {

std::string paint(bool color, const char* sgr, const std::string& s) {
  return color ? fmt::format("\x1b[{}m{}\x1b[0m", sgr, s) : s;
}

// A URL or message could carry terminal control bytes; never let them through.
std::string printable(std::string_view s) {
  std::string out = utf8_clean(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = '?';
    }
  }
  return out;
}

std::string short_duration(std::chrono::nanoseconds d) {
  double ms = to_ms(d);
  if (ms >= 1000) {
    return fmt::format("{:.2f}s", ms / 1000);
  }
  return fmt::format("{:.1f}ms", ms);
}

class stdout_sink final : public sink {
 public:
  stdout_sink(const stage_context& ctx, stdout_config cfg) : ctx_(ctx), cfg_(cfg) {}

  bool wants_bodies() const override { return false; }  // one summary line per result

  net::awaitable<void> write(const std::vector<result_ptr>& batch) override {
    if (reader_gone_) {
      co_return;  // standard output's reader went away (`| head`): nothing to do
    }
    std::string out;
    for (const auto& r : batch) {
      out += human_line(*r, cfg_.color);
      out += '\n';
    }
    // Named locals, not temporaries, in the co_await (g++ 12).
    std::string what = "writing to standard output";
    std::function<void()> step = [this, out] {
      // One write per batch keeps lines whole; write_stdout also keeps them
      // clear of the progress bar when both share the terminal.
      if (int e = write_stdout(out); e != 0) {
        if (e == EPIPE) {
          // The reader closed the pipe (sluice ignores SIGPIPE): a normal
          // end for this sink, never retried; the others go on.
          reader_gone_ = true;
          return;
        }
        throw io_error(fmt::format("cannot write to standard output: {}", std::strerror(e)));
      }
    };
    co_await with_retries(ctx_, retry_policy{}, std::move(what), std::move(step));
    if (reader_gone_) {
      ctx_.log(log_level::warn,
               "standard output was closed by its reader (EPIPE): the stdout sink stops "
               "here; the other sinks go on");
    }
  }

 private:
  stage_context ctx_;
  stdout_config cfg_;
  bool reader_gone_ = false;  ///< EPIPE seen (the sink's strand only)
};

}  // namespace

std::string human_line(const result& r, bool color) {
  std::string url = printable(r.url);
  std::string line;
  if (!r.ok()) {
    line = fmt::format("{} {:<10} {:>9} {:>9}  {}", paint(color, "31", "ERR"),
                       printable(r.error_kind), "", short_duration(r.time.total), url);
    if (!r.error_message.empty()) {
      line += ": " + printable(r.error_message);
    }
  } else {
    const char* sgr = r.status >= 500   ? "31"
                      : r.status >= 400 ? "33"
                      : r.status >= 300 ? "36"
                                        : "32";
    line = fmt::format(
        "{} {:<10} {:>9} {:>9}  {}",
        paint(color, sgr, r.status != 0 ? fmt::format("{:3}", r.status) : std::string(" ok")),
        printable(r.content_type.substr(0, r.content_type.find(';')).substr(0, 10)),
        format_bytes(r.bytes), short_duration(r.time.total), url);
    if (!r.final_url.empty() && r.final_url != r.url) {
      line += " -> " + printable(r.final_url);
    }
  }
  if (r.attempts > 1) {
    line += fmt::format(" [{} attempts]", r.attempts);
  }
  return line;
}

std::unique_ptr<sink> make_stdout_sink(const stage_context& ctx, stdout_config cfg) {
  return std::make_unique<stdout_sink>(ctx, cfg);
}

}  // namespace sluice::stages::sinks
