// Progress on stderr: a tqdm-like bar redrawn in place on a terminal, plain
// periodic lines elsewhere (CI logs, files), so a long job shows how far along
// it is without flooding a log.
#include "sluice/runtime/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "sluice/stage/options.hpp"

namespace sluice {
namespace {

// `01:02` or `1:02:03`; `?` when unknown or absurd. Whole seconds passed, as
// a clock shows them: 59.6 s is 00:59, not 01:00.
std::string format_clock(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 99 * 3600.0) {
    return "?";
  }
  auto s = static_cast<long long>(seconds);
  if (s >= 3600) {
    return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  }
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

std::string format_rate(double per_s) {
  if (!std::isfinite(per_s) || per_s <= 0) {
    return "?/s";
  }
  if (per_s >= 100) {
    return fmt::format("{:.0f}/s", per_s);
  }
  return fmt::format("{:.1f}/s", per_s);
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

bool utf8_locale() {
  for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') {
      std::string s(v);
      std::transform(s.begin(), s.end(), s.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      return s.find("utf-8") != std::string::npos || s.find("utf8") != std::string::npos;
    }
  }
  return false;
}

// Writes everything, retrying short writes and EINTR. Returns 0 or the errno
// of the failed write (progress output ignores it: it is best effort).
int write_all(int fd, std::string_view s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    off += static_cast<std::size_t>(n);
  }
  return 0;
}

// The terminal shared by the bar and whatever prints to standard output:
// the bar's current text, so a write to stdout can erase it and draw it
// again below. One per process, as the terminal is.
struct shared_terminal {
  std::mutex m;
  int bar_fd = -1;  ///< the fd a bar is showing on, -1 when none
  std::string bar;  ///< what is drawn there, without "\r" and erase
  bool stdout_is_tty = ::isatty(1) == 1;
};

shared_terminal& terminal() {
  static shared_terminal t;
  return t;
}

// Draws the bar line on `fd` (the terminal lock held by the caller when it
// is shared); `final` ends it with a newline and forgets it.
void draw_bar(int fd, const std::string& line, bool final) {
  auto& t = terminal();
  std::lock_guard lock(t.m);
  write_all(fd, "\r" + line + (final ? "\x1b[K\n" : "\x1b[K"));
  t.bar_fd = final ? -1 : fd;
  t.bar = final ? std::string() : line;
}

// The rate shown is the items done over a sliding window of the last
// `window_s` seconds (the whole run until it is that old): items often finish
// in bursts (every worker's slow item at once), and a rate between two 100 ms
// samples, even smoothed, swings with them (tqdm's moving average printed
// 12.2/s for a steady 4/s). A sample is kept every 0.1 s at most, so the
// window holds at most 10 × window_s of them.
class rate_meter {
 public:
  explicit rate_meter(double window_s) : window_s_(window_s) {}

  double update(std::uint64_t done, double t) {
    if (samples_.empty() || t >= samples_.back().t + 0.1 - 1e-9) {
      samples_.push_back({t, done});
    }
    // Keep one sample at or before the window's start, so the span is whole.
    while (samples_.size() > 2 && samples_[1].t <= t - window_s_) {
      samples_.pop_front();
    }
    const auto& from = samples_.front();
    double span = t - from.t;
    if (span <= 1e-9) {
      return 0.0;
    }
    return static_cast<double>(done - std::min(done, from.done)) / span;
  }

 private:
  struct sample {
    double t;
    std::uint64_t done;
  };
  double window_s_;
  std::deque<sample> samples_{sample{0.0, 0}};
};

/// How a reporter draws: where, whether in place, colours, width.
struct progress_style {
  int fd = 2;
  bool terminal = false;
  bool color = false;
  bool unicode = false;
  int width = 0;  ///< 0: ask the terminal (TIOCGWINSZ), else COLUMNS, else 80
  double log_interval_s = 10.0;
};

class stderr_progress final : public progress_reporter {
 public:
  explicit stderr_progress(progress_style style)
      : style_(style), meter_(std::max(10.0, style.log_interval_s)) {}

  void update(const progress_snapshot& s) override {
    double rate = meter_.update(s.done, s.elapsed_s);
    if (style_.terminal) {
      // At most 10 redraws a second, whatever the caller's cadence.
      if (drawn_ && s.elapsed_s - last_draw_s_ < 0.1 - 1e-9) {
        return;
      }
      last_draw_s_ = s.elapsed_s;
      drawn_ = true;
      draw_bar(style_.fd, bar_line(s, rate, false), false);
    } else {
      if (s.elapsed_s - last_draw_s_ < style_.log_interval_s - 1e-9) {
        return;
      }
      last_draw_s_ = s.elapsed_s;
      write_all(style_.fd, plain_line(s, rate, false) + "\n");
    }
  }

  void finish(const progress_snapshot& s) override {
    // The final figures are averages over the whole run, not the smoothed rate.
    double rate = s.elapsed_s > 0 ? static_cast<double>(s.done) / s.elapsed_s : 0.0;
    if (style_.terminal) {
      draw_bar(style_.fd, bar_line(s, rate, true), true);
    } else {
      write_all(style_.fd, plain_line(s, rate, true) + "\n");
    }
  }

 private:
  int columns() const {
    if (style_.width > 0) {
      return style_.width;
    }
    struct winsize ws {};
    if (::ioctl(style_.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
      return ws.ws_col;
    }
    if (const char* c = std::getenv("COLUMNS")) {
      int v = std::atoi(c);
      if (v > 0) {
        return v;
      }
    }
    return 80;
  }

  std::string paint(const std::string& text, const char* sgr) const {
    if (!style_.color) {
      return text;
    }
    return fmt::format("\x1b[{}m{}\x1b[0m", sgr, text);
  }

  // `[00:12<00:15, 372/s] in flight 100, errors 3, 1.2 MiB`
  std::string tail(const progress_snapshot& s, double rate, bool final) const {
    std::string t = "[" + format_clock(s.elapsed_s);
    if (s.total && !final) {
      std::uint64_t left = *s.total > s.done ? *s.total - s.done : 0;
      t += "<" + (rate > 0 ? format_clock(static_cast<double>(left) / rate) : std::string("?"));
    }
    t += ", " + format_rate(rate) + "]";
    if (!final) {
      t += fmt::format(" in flight {}", s.in_flight);
    }
    std::string errors = fmt::format("errors {}", s.failed);
    t += ", " + (s.failed > 0 ? paint(errors, "31") : errors);
    if (s.bytes > 0) {
      t += ", " + format_bytes(s.bytes);
    }
    return t;
  }

  // The visible width of a string with SGR escapes and UTF-8 characters.
  static int visible_width(const std::string& s) {
    int w = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == 0x1b) {
        while (i < s.size() && s[i] != 'm') {
          ++i;
        }
        continue;
      }
      if ((c & 0xC0) != 0x80) {
        ++w;
      }
    }
    return w;
  }

  std::string bar_line(const progress_snapshot& s, double rate, bool final) const {
    std::string right = tail(s, rate, final);
    if (!s.total) {
      return fmt::format("{} done {}", s.done, right);
    }
    std::uint64_t total = *s.total;
    double frac = total > 0 ? std::min(1.0, static_cast<double>(s.done) / total) : 1.0;
    std::string left = fmt::format("{:3.0f}%|", std::floor(frac * 100));
    std::string counts = fmt::format("| {}/{} ", s.done, total);
    int room = columns() - 1 - visible_width(left) - visible_width(counts) - visible_width(right);
    int width = std::clamp(room, 0, 60);
    std::string bar;
    if (width > 0) {
      if (style_.unicode) {
        // Eighth blocks give the bar sub-character resolution, as tqdm does.
        static const char* parts[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
        int eighths = static_cast<int>(frac * width * 8);
        int full = eighths / 8;
        for (int i = 0; i < full; ++i) {
          bar += "█";
        }
        int used = full;
        if (full < width && eighths % 8 != 0) {
          bar += parts[eighths % 8];
          ++used;
        }
        bar.append(static_cast<std::size_t>(width - used), ' ');
      } else {
        int full = static_cast<int>(frac * width);
        bar.append(static_cast<std::size_t>(full), '#');
        bar.append(static_cast<std::size_t>(width - full), ' ');
      }
      bar = paint(bar, final && s.failed == 0 ? "32" : "36");
    } else {
      left.pop_back();  // no room for a bar: drop its frame too
      counts = " " + counts.substr(2);
    }
    return left + bar + counts + right;
  }

  std::string plain_line(const progress_snapshot& s, double rate, bool final) const {
    std::string head = final ? "progress: finished" : "progress:";
    std::string counts = s.total ? fmt::format(" {}/{} ({:.1f}%)", s.done, *s.total,
                                               *s.total > 0 ? 100.0 * s.done / *s.total : 100.0)
                                 : fmt::format(" {} done", s.done);
    std::string line = head + counts + fmt::format(", {}", format_rate(rate));
    if (s.total && !final) {
      std::uint64_t left = *s.total > s.done ? *s.total - s.done : 0;
      line += ", eta " + (rate > 0 ? format_clock(static_cast<double>(left) / rate) : "?");
    }
    line += fmt::format(", elapsed {}", format_clock(s.elapsed_s));
    if (!final) {
      line += fmt::format(", in flight {}, queued {}", s.in_flight, s.queued);
    }
    line += fmt::format(", errors {}", s.failed);
    if (s.bytes > 0) {
      line += ", " + format_bytes(s.bytes);
    }
    return line;
  }

  progress_style style_;
  rate_meter meter_;
  bool drawn_ = false;
  double last_draw_s_ = 0;
};

}  // namespace

namespace detail {

/// Builds a reporter writing to `fd`. `terminal` chooses the in-place bar;
/// colour is used only on a terminal and when NO_COLOR is unset; `width` 0
/// asks the terminal. Exposed for tests (declared there); not public API.
/// Thread safety: see progress_reporter.
std::unique_ptr<progress_reporter> make_progress(int fd, bool terminal, int width,
                                                 double log_interval_s) {
  progress_style st;
  st.fd = fd;
  st.terminal = terminal;
  st.color = terminal && !env_set("NO_COLOR") &&
             !(std::getenv("TERM") != nullptr && std::strcmp(std::getenv("TERM"), "dumb") == 0);
  st.unicode = terminal && utf8_locale();
  st.width = width;
  st.log_interval_s = log_interval_s;
  return std::make_unique<stderr_progress>(st);
}

}  // namespace detail

int write_stdout(std::string_view text) {
  auto& t = terminal();
  std::lock_guard lock(t.m);
  bool erase = t.stdout_is_tty && t.bar_fd >= 0;
  if (erase) {
    write_all(t.bar_fd, "\r\x1b[K");
  }
  int err = write_all(1, text);
  if (erase) {
    write_all(t.bar_fd, "\r" + t.bar + "\x1b[K");
  }
  return err;
}

std::unique_ptr<progress_reporter> make_stderr_progress(double log_interval_s) {
  return detail::make_progress(2, ::isatty(2) == 1, 0, log_interval_s);
}

}  // namespace sluice
