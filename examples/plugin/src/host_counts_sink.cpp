// The `host_counts` sink: counts results per host (results, ok, failed,
// bytes, and the most frequent error kind) and writes them as CSV, sorted by
// host, when the pipeline ends and, with `flush_interval`, periodically while
// it runs, so a long crawl can be watched with `watch cat counts.csv`.
//
// It shows a sink's contract: `write` and `close` run on the sink's strand,
// never concurrently, so the map needs no lock; the file is replaced
// atomically (write a temporary, then rename) so a reader never sees half of
// it; a failure to write throws, which stops the pipeline with exit code 1.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <sluice/core/error.hpp>
#include <sluice/stage/registry.hpp>

#include "example_stages.hpp"

namespace sluice_example {

namespace {

namespace net = boost::asio;

struct host_counts {
  std::uint64_t results = 0;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t bytes = 0;
  std::map<std::string, std::uint64_t> errors;
};

/// The host of a URL, lower-cased by Boost.URL's normalisation; `(invalid)`
/// when the URL does not parse and `(none)` when it has no host.
std::string host_of(const std::string& url) {
  auto u = boost::urls::parse_uri_reference(url);
  if (!u) {
    return "(invalid)";
  }
  boost::urls::url normal(*u);
  normal.normalize_authority();
  std::string host = normal.host();
  return host.empty() ? "(none)" : host;
}

/// Quotes a CSV field when it needs it (RFC 4180).
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) {
    return s;
  }
  std::string q = "\"";
  for (char c : s) {
    q += c;
    if (c == '"') {
      q += '"';
    }
  }
  return q + "\"";
}

class host_counts_sink final : public sluice::sink {
 public:
  explicit host_counts_sink(const sluice::stage_context& ctx) : ctx_(ctx) {
    const std::string file = ctx.opts.get_string("file");
    to_stdout_ = file == "-";
    if (!to_stdout_) {
      path_ = ctx.resolve(file);
    }
    interval_ = ctx.opts.get_duration("flush_interval");
    last_flush_ = std::chrono::steady_clock::now();
  }

  net::awaitable<void> write(const std::vector<sluice::result_ptr>& batch) override {
    for (const auto& r : batch) {
      host_counts& c = hosts_[host_of(r->url)];
      ++c.results;
      c.bytes += r->bytes;
      if (r->ok()) {
        ++c.ok;
      } else {
        ++c.failed;
        ++c.errors[r->error_kind];
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (!to_stdout_ && interval_.count() > 0 && now - last_flush_ >= interval_) {
      flush();
      last_flush_ = now;
    }
    co_return;
  }

  net::awaitable<void> close() override {
    flush();
    co_return;
  }

 private:
  std::string render() const {
    std::ostringstream out;
    out << "host,results,ok,failed,bytes,top_error\n";
    for (const auto& [host, c] : hosts_) {
      std::string top;
      std::uint64_t top_n = 0;
      for (const auto& [kind, n] : c.errors) {
        if (n > top_n) {
          top = kind;
          top_n = n;
        }
      }
      out << csv_field(host) << ',' << c.results << ',' << c.ok << ',' << c.failed << ',' << c.bytes
          << ',' << csv_field(top) << '\n';
    }
    return out.str();
  }

  void flush() {
    const std::string text = render();
    if (to_stdout_) {
      std::cout << text << std::flush;
      return;
    }
    if (const auto dir = path_.parent_path(); !dir.empty()) {
      std::filesystem::create_directories(dir);  // throws filesystem_error on failure
    }
    auto tmp = path_;
    tmp += ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f << text;
      f.flush();
      if (!f) {
        throw std::runtime_error("cannot write '" + tmp.string() + "'");
      }
    }
    std::filesystem::rename(tmp, path_);  // throws filesystem_error on failure
  }

  sluice::stage_context ctx_;
  bool to_stdout_ = false;
  std::filesystem::path path_;
  std::chrono::nanoseconds interval_{0};
  std::chrono::steady_clock::time_point last_flush_{};
  std::map<std::string, host_counts> hosts_;
};

}  // namespace

void register_host_counts(sluice::registry& reg) {
  reg.add(sluice::stage_entry<host_counts_sink>(
      "host_counts", "per-host counts of results (ok, failed, bytes, top error) as CSV",
      {
          {.name = "file",
           .type = sluice::option_type::string,
           .default_value = "-",
           .doc = "CSV file to write, directories created (relative to the pipeline file; `-` = "
                  "stdout at the end)"},
          {.name = "flush_interval",
           .type = sluice::option_type::duration,
           .default_value = "0",
           .doc = "also rewrite the file while running, at most this often (0: only at the end)"},
      }));
}

}  // namespace sluice_example
