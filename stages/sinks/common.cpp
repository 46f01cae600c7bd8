// Shared sink machinery; see common.hpp.
#include "common.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/json/parse.hpp>

#include "sluice/core/base64.hpp"

namespace sluice::stages::sinks {

namespace net = boost::asio;

void throw_errno(const std::string& what, const std::filesystem::path& p) {
  int e = errno;
  throw std::system_error(e, std::generic_category(), what + " " + p.string());
}

option_schema retry_schema() {
  const retry_policy d{};
  return {
      bounded_option(make_option("retries", option_type::integer, default_of(d.attempts),
                                 "attempts at a failing write (disk full, read-only) before the "
                                 "pipeline stops"),
                     1, 100),
      make_option("retry_backoff", option_type::duration, default_of(d.backoff),
                  "wait after the first failed write; doubles each time, at most " +
                      default_of(d.max_backoff))};
}

retry_policy retry_from(const options& o) {
  retry_policy p;
  p.attempts = static_cast<int>(o.get_int("retries"));
  p.backoff = o.get_duration("retry_backoff");
  return p;
}

namespace {

// One thread for the sinks' blocking commits (fsync, syncfs): with
// `threads: 1` an fsync on the run's thread stopped every worker for as long
// as the disk took. Commits are rare (every commit.interval), so one thread
// is enough, and it outlives every run (a function-local static).
net::thread_pool& blocking_pool() {
  static net::thread_pool pool(1);
  return pool;
}

// Runs `step` on the blocking thread; the caller resumes on its own
// executor, with step's exception if it threw.
net::awaitable<void> run_off_thread(const std::function<void()>& step) {
  co_await net::co_spawn(
      blocking_pool().get_executor(),
      [&step]() -> net::awaitable<void> {
        step();
        co_return;
      },
      net::use_awaitable);
}

}  // namespace

net::awaitable<void> with_retries(const stage_context& ctx, retry_policy policy, std::string what,
                                  std::function<void()> step, bool off_thread) {
  auto delay = policy.backoff;
  for (int attempt = 1;; ++attempt) {
    std::string cause;
    try {
      if (off_thread) {
        co_await run_off_thread(step);
      } else {
        step();
      }
      co_return;
    } catch (const std::system_error& e) {
      cause = e.what();
    } catch (const io_error& e) {
      cause = e.what();
    }
    if (attempt >= policy.attempts) {
      throw std::runtime_error(fmt::format("{} failed after {} attempt{}: {}", what, attempt,
                                           attempt == 1 ? "" : "s", cause));
    }
    ctx.log(log_level::warn, fmt::format("{} failed (attempt {} of {}): {}; retrying in {}", what,
                                         attempt, policy.attempts, cause, format_duration(delay)));
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(delay);
    co_await timer.async_wait(net::use_awaitable);
    delay = std::min(delay * 2, std::max(policy.max_backoff, policy.backoff));
  }
}

std::string utf8_clean(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  auto bad = [&] {
    out += "\xEF\xBF\xBD";
    ++i;
  };
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    int len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      bad();
      continue;
    }
    if (i + len > s.size()) {
      bad();
      continue;
    }
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    static const std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (!ok || cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      bad();
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

namespace {

bool valid_utf8(std::string_view s) {
  return utf8_clean(s) == s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::string utc_now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

boost::json::object result_to_json(const result& r, const json_options& opts) {
  // The field set is the one the README's "Results" section documents.
  boost::json::object o;
  o.reserve(24);
  o["url"] = utf8_clean(r.url);
  if (!r.final_url.empty() && r.final_url != r.url) {
    o["final_url"] = utf8_clean(r.final_url);
  }
  o["index"] = r.index;
  o["producer"] = r.producer;
  o["worker"] = r.worker;
  o["ok"] = r.ok();
  if (r.status != 0) {
    o["status"] = r.status;
  }
  if (!r.ok()) {
    o["error_kind"] = utf8_clean(r.error_kind);
    o["error_message"] = utf8_clean(r.error_message);
  }
  o["bytes"] = r.bytes;
  if (r.attempts != 0) {
    o["attempts"] = r.attempts;
  }
  if (r.redirects != 0) {
    o["redirects"] = r.redirects;
  }
  if (!r.content_type.empty()) {
    o["content_type"] = utf8_clean(r.content_type);
  }
  if (opts.include_headers && !r.headers.empty()) {
    boost::json::object h;
    for (const auto& [k, v] : r.headers) {
      h[utf8_clean(k)] = utf8_clean(v);
    }
    o["headers"] = std::move(h);
  }
  o["queue_ms"] = to_ms(r.time.queue);
  if (r.time.dns.count()) {
    o["dns_ms"] = to_ms(r.time.dns);
  }
  if (r.time.connect.count()) {
    o["connect_ms"] = to_ms(r.time.connect);
  }
  if (r.time.tls.count()) {
    o["tls_ms"] = to_ms(r.time.tls);
  }
  if (r.time.ttfb.count()) {
    o["ttfb_ms"] = to_ms(r.time.ttfb);
  }
  o["total_ms"] = to_ms(r.time.total);
  o["stored_at"] = utc_now_rfc3339();
  if (r.request && !r.request->meta.empty()) {
    // The producer validated and serialized it: an object, as it came.
    o["meta"] = boost::json::parse(r.request->meta);
  }
  if (opts.include_body && r.ok()) {
    std::string body = r.body_file.empty() ? r.body : read_file(r.body_file);
    if (valid_utf8(body)) {
      o["body"] = std::move(body);
    } else {
      o["body_base64"] = base64_encode(body);
    }
  }
  return o;
}

std::size_t complete_prefix(std::string_view data, record_format format) {
  if (format == record_format::lines) {
    auto nl = data.rfind('\n');
    return nl == std::string_view::npos ? 0 : nl + 1;
  }
  // CSV: a line break ends a record only outside a quoted field; `""` inside
  // quotes toggles twice, so counting quotes is exact.
  bool quoted = false;
  std::size_t end = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (c == '"') {
      quoted = !quoted;
    } else if (c == '\n' && !quoted) {
      end = i + 1;
    }
  }
  return end;
}

append_file::append_file(const std::filesystem::path& path, record_format format, bool truncate)
    : path_(path) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      throw std::system_error(ec, "cannot create directory " + path.parent_path().string());
    }
  }
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0 && errno == EACCES) {
    // Write-only special files such as /dev/stdout of a redirected process.
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  if (fd_ < 0) {
    throw_errno("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int e = errno;
    ::close(fd_);
    errno = e;
    throw_errno("cannot stat", path);
  }
  regular_ = S_ISREG(st.st_mode);
  if (!regular_) {
    return;
  }
  if (truncate && st.st_size > 0) {
    if (::ftruncate(fd_, 0) != 0) {
      ::close(fd_);
      throw_errno("cannot truncate", path);
    }
    st.st_size = 0;
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (size_ == 0) {
    return;
  }
  // Find the end of the last complete record. For lines only the tail is
  // read; a CSV record may span lines inside quotes, so it is scanned whole.
  std::uint64_t keep = 0;
  if (format == record_format::lines) {
    constexpr std::uint64_t chunk = 64 * 1024;
    std::vector<char> buf(chunk);
    std::uint64_t end = size_;
    bool found = false;
    while (end > 0 && !found) {
      std::uint64_t start = end > chunk ? end - chunk : 0;
      auto len = static_cast<std::size_t>(end - start);
      ssize_t n = ::pread(fd_, buf.data(), len, static_cast<off_t>(start));
      if (n != static_cast<ssize_t>(len)) {
        ::close(fd_);
        throw_errno("cannot read", path);
      }
      std::string_view v(buf.data(), len);
      auto nl = v.rfind('\n');
      if (nl != std::string_view::npos) {
        keep = start + nl + 1;
        found = true;
      }
      end = start;
    }
  } else {
    std::string all(static_cast<std::size_t>(size_), '\0');
    ssize_t n = ::pread(fd_, all.data(), all.size(), 0);
    if (n != static_cast<ssize_t>(all.size())) {
      ::close(fd_);
      throw_errno("cannot read", path);
    }
    keep = complete_prefix(all, format);
  }
  if (keep < size_) {
    if (::ftruncate(fd_, static_cast<off_t>(keep)) != 0) {
      ::close(fd_);
      throw_errno("cannot truncate the torn last record of", path);
    }
    repaired_ = size_ - keep;
    size_ = keep;
  }
}

append_file::~append_file() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void append_file::append(std::string_view data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      int e = n < 0 ? errno : ENOSPC;
      if (regular_ && off > 0) {
        // Undo the partial write so the file ends with a complete record.
        (void)::ftruncate(fd_, static_cast<off_t>(size_));
      }
      errno = e;
      throw_errno("cannot write", path_);
    }
    off += static_cast<std::size_t>(n);
  }
  size_ += regular_ ? data.size() : 0;
}

void append_file::cut_to(std::uint64_t size) {
  if (!regular_) {
    return;
  }
  if (size > size_) {
    throw std::runtime_error(fmt::format(
        "{} is shorter ({} bytes) than at the last commit of the run being resumed ({} bytes): "
        "it was changed outside sluice; run with --fresh to start over",
        path_.string(), size_, size));
  }
  if (size < size_) {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0 || ::fsync(fd_) != 0) {
      throw_errno("cannot cut back (resuming)", path_);
    }
    size_ = size;
  }
}

void append_file::sync() {
  if (regular_ && ::fsync(fd_) != 0) {
    throw_errno("cannot fsync", path_);
  }
}

struct flush_timer::state {
  explicit state(net::any_io_executor ex) : timer(std::move(ex)) {}
  net::steady_timer timer;
  bool armed = false;
  bool cancelled = false;
  bool busy = false;
  std::uint64_t generation = 0;  ///< bumped by cancel: an older wake-up does nothing
  std::exception_ptr error;
};

flush_timer::flush_timer(net::any_io_executor ex)
    : state_(std::make_shared<state>(std::move(ex))) {}

flush_timer::~flush_timer() {
  cancel();
}

void flush_timer::arm(std::chrono::nanoseconds after, std::function<net::awaitable<void>()> flush) {
  if (state_->armed || state_->cancelled) {
    return;
  }
  state_->armed = true;
  state_->timer.expires_after(after);
  auto st = state_;
  auto generation = st->generation;
  // The coroutine holds the state, not the sink: once cancelled it only
  // wakes to find `cancelled` set and never touches the (maybe gone) sink.
  net::co_spawn(
      st->timer.get_executor(),
      [st, generation, flush = std::move(flush)]() -> net::awaitable<void> {
        boost::system::error_code ec;
        co_await st->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
        if (st->cancelled || st->generation != generation) {
          co_return;
        }
        st->armed = false;
        st->busy = true;
        try {
          co_await flush();
        } catch (...) {
          st->busy = false;
          throw;
        }
        st->busy = false;
      },
      [st](std::exception_ptr e) {
        if (e && !st->cancelled && !st->error) {
          st->error = e;
        }
      });
}

void flush_timer::cancel() {
  state_->cancelled = true;
  state_->armed = false;
  ++state_->generation;
  state_->timer.cancel();
}

net::awaitable<void> flush_timer::drain() {
  co_await shutdown();
  state_->cancelled = false;
  rethrow();
}

net::awaitable<void> flush_timer::shutdown() {
  cancel();
  // A flush already running (perhaps waiting to retry) must finish before
  // the sink's final flush and its destruction.
  net::steady_timer wait(co_await net::this_coro::executor);
  while (state_->busy) {
    wait.expires_after(std::chrono::milliseconds(10));
    co_await wait.async_wait(net::use_awaitable);
  }
}

void flush_timer::rethrow() {
  if (state_->error) {
    std::rethrow_exception(std::exchange(state_->error, nullptr));
  }
}

net::awaitable<void> flush_timer::flush_or_arm(bool due, bool pending,
                                               std::chrono::nanoseconds after,
                                               std::function<net::awaitable<void>()> flush) {
  if (due) {
    co_await flush();
  } else if (pending) {
    arm(after, std::move(flush));
  }
}

net::awaitable<void> flush_timer::close(std::function<net::awaitable<void>()> flush) {
  co_await shutdown();
  rethrow();
  co_await flush();
}

}  // namespace sluice::stages::sinks
