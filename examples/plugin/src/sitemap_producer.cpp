// The `sitemap` producer: streams the <loc> URLs of a sitemap.xml file
// (https://www.sitemaps.org/protocol.html) with libxml2's xmlTextReader, so a
// 50,000-URL sitemap is never held in memory at once.
//
// It shows the three things a producer usually needs: options validated by a
// schema (and a factory that reports a bad `file` at its line:column), a
// batched `next`, and waiting on the host's executor: with `rate` set, each
// URL waits on a steady_timer bound to stage_context::executor, the stage's
// strand in the host's io_context, so pacing costs no thread.
#include <libxml/xmlreader.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>

#include <sluice/core/error.hpp>
#include <sluice/stage/registry.hpp>

#include "example_stages.hpp"

namespace sluice_example {

namespace {

namespace net = boost::asio;

struct reader_deleter {
  void operator()(xmlTextReader* r) const noexcept { xmlFreeTextReader(r); }
};
using reader_ptr = std::unique_ptr<xmlTextReader, reader_deleter>;

/// One <url> entry of a sitemap.
struct entry {
  std::string loc;
  std::string lastmod;
};

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return std::isspace(c) == 0; };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

/// The local name of the reader's current node ("" when it has none).
std::string local_name(xmlTextReader* r) {
  const xmlChar* n = xmlTextReaderConstLocalName(r);
  return n != nullptr ? reinterpret_cast<const char*>(n) : "";
}

class sitemap_producer final : public sluice::producer {
 public:
  explicit sitemap_producer(const sluice::stage_context& ctx) : ctx_(ctx), timer_(ctx.executor) {
    path_ = ctx.resolve(ctx.opts.get_string("file")).string();
    limit_ = static_cast<std::uint64_t>(ctx.opts.get_int("limit"));
    if (ctx.opts.has("changed_since")) {
      changed_since_ = ctx.opts.get_string("changed_since");
    }
    const double rate = ctx.opts.get_number("rate");
    if (rate > 0) {
      interval_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::duration<double>(1.0 / rate));
    }
    // XML_PARSE_NONET: never fetch a DTD from the network; entities are not
    // substituted (no XML_PARSE_NOENT), which keeps external entities out.
    reader_.reset(xmlReaderForFile(path_.c_str(), nullptr, XML_PARSE_NONET | XML_PARSE_NOWARNING));
    if (!reader_) {
      throw sluice::config_error("file", "cannot open sitemap '" + path_ + "'");
    }
    xmlTextReaderSetErrorHandler(reader_.get(), &sitemap_producer::on_error, this);
  }

  net::awaitable<bool> next(std::vector<sluice::item>& out, std::size_t max) override {
    // With a rate, one URL per call: the framework pushes it before the next
    // wait, so the queue sees a steady trickle rather than bursts.
    if (interval_.count() > 0) {
      max = 1;
    }
    const std::size_t start = out.size();
    while (out.size() - start < max) {
      if (limit_ != 0 && emitted_ >= limit_) {
        co_return false;
      }
      std::optional<entry> e = read_entry();
      if (!e) {
        co_return false;
      }
      if (!changed_since_.empty() && (e->lastmod.empty() || e->lastmod < changed_since_)) {
        continue;
      }
      if (!boost::urls::parse_absolute_uri(e->loc)) {
        ctx_.log(sluice::log_level::warn, "skipping invalid <loc> '" + e->loc + "'");
        continue;
      }
      if (interval_.count() > 0) {
        co_await pace();
      }
      sluice::item it;
      it.url = std::move(e->loc);
      it.index = emitted_++;
      out.push_back(std::move(it));
    }
    co_return true;
  }

 private:
  /// Waits until the next URL is due. The timer runs on ctx_.executor, so a
  /// shutdown that cancels the stage cancels the wait (operation_aborted).
  net::awaitable<void> pace() {
    const auto now = std::chrono::steady_clock::now();
    if (next_due_ > now) {
      timer_.expires_at(next_due_);
      co_await timer_.async_wait(net::use_awaitable);
    }
    // Falling behind (a full queue) does not earn a burst later.
    next_due_ = std::max(next_due_, std::chrono::steady_clock::now()) + interval_;
  }

  /// Reads up to the end of the next <url> element; nullopt at the end.
  std::optional<entry> read_entry() {
    xmlTextReader* r = reader_.get();
    std::optional<entry> current;
    for (;;) {
      const int rc = xmlTextReaderRead(r);
      if (rc == 0) {
        if (!error_.empty()) {
          throw std::runtime_error(error_);
        }
        return std::nullopt;
      }
      if (rc < 0) {
        throw std::runtime_error(error_.empty() ? "cannot parse sitemap '" + path_ + "'" : error_);
      }
      const int type = xmlTextReaderNodeType(r);
      const std::string name = local_name(r);
      if (type == XML_READER_TYPE_ELEMENT) {
        if (xmlTextReaderDepth(r) == 0 && name != "urlset") {
          throw std::runtime_error(
              "'" + path_ + "' is not a sitemap <urlset> (root element <" + name + ">)" +
              (name == "sitemapindex"
                   ? "; it is a sitemap index: point `file` at one of its sitemaps"
                   : ""));
        }
        if (name == "url") {
          current.emplace();
        } else if (current && (name == "loc" || name == "lastmod")) {
          xmlChar* text = xmlTextReaderReadString(r);
          std::string value = text != nullptr ? trim(reinterpret_cast<const char*>(text)) : "";
          xmlFree(text);
          (name == "loc" ? current->loc : current->lastmod) = std::move(value);
        }
      } else if (type == XML_READER_TYPE_END_ELEMENT && name == "url" && current) {
        if (current->loc.empty()) {
          ctx_.log(sluice::log_level::warn, "skipping a <url> without <loc>");
          current.reset();
          continue;
        }
        return current;
      }
    }
  }

  static void on_error(void* self, const char* msg, xmlParserSeverities severity,
                       xmlTextReaderLocatorPtr locator) {
    auto* p = static_cast<sitemap_producer*>(self);
    if (severity != XML_PARSER_SEVERITY_ERROR || !p->error_.empty()) {
      return;
    }
    p->error_ = p->path_ + ":" + std::to_string(xmlTextReaderLocatorLineNumber(locator)) + ": " +
                trim(msg != nullptr ? msg : "XML error");
  }

  sluice::stage_context ctx_;
  net::steady_timer timer_;
  reader_ptr reader_;
  std::string path_;
  std::string error_;
  std::string changed_since_;
  std::uint64_t limit_ = 0;
  std::uint64_t emitted_ = 0;
  std::chrono::nanoseconds interval_{0};
  std::chrono::steady_clock::time_point next_due_{};
};

}  // namespace

void register_sitemap(sluice::registry& reg) {
  using sluice::option_type;
  auto info = sluice::stage_entry<sitemap_producer>(
      "sitemap", "URLs from the <loc> entries of a sitemap.xml file (streamed with libxml2)",
      {sluice::required_option("file", option_type::string,
                               "path of the sitemap.xml (relative to the pipeline file)"),
       sluice::bounded_option(sluice::make_option("limit", option_type::integer, "0",
                                                  "emit at most this many URLs (0: all)"),
                              0),
       sluice::make_option("changed_since", option_type::string, "",
                           "only URLs whose <lastmod> is on or after this date (YYYY-MM-DD)"),
       sluice::bounded_option(
           sluice::make_option(
               "rate", option_type::number, "0",
               "at most this many URLs per second, paced by a timer (0: unlimited)"),
           0)});
  info.validate = [](const sluice::options& opts) {
    if (opts.has("changed_since")) {
      const std::string d = opts.get_string("changed_since");
      const bool shape = d.size() >= 10 && d[4] == '-' && d[7] == '-' &&
                         std::all_of(d.begin(), d.begin() + 4,
                                     [](unsigned char c) { return std::isdigit(c) != 0; });
      if (!shape) {
        throw sluice::config_error("changed_since",
                                   "expected a date like 2024-01-31, got '" + d + "'");
      }
    }
  };
  reg.add(std::move(info));
}

}  // namespace sluice_example
