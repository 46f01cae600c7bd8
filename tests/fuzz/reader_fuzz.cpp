// libFuzzer harness: the http consumer's response reader fed a fuzzer-made
// byte stream that arrives in pieces cut at fuzzer-chosen points, driven the
// way the exchange drives it (the head pre-scan and normalization, interim
// 1xx responses, header and chunk-header bounds, EOF ending a close-delimited
// body). The property beyond "no crash, leak or UB": the outcome does not
// depend on where the stream was cut. The cut points and flags come from the
// end of the input (FuzzedDataProvider), so a seed is a raw response.
#include <fuzzer/FuzzedDataProvider.h>

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "response_reader.hpp"

namespace hd = sluice::stages::http;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr std::uint64_t k_max_header = 4096;
constexpr std::uint64_t k_max_body = 1 << 20;

/// What one response came to: compared across cuttings.
struct verdict {
  int status = 0;
  bool failed = false;
  std::string body;
  std::uint64_t bytes = 0;
  bool keep_alive = false;
  std::size_t left = 0;  // bytes after the response (the exchange closes then)
  std::string why;       // the failure, for the report (not compared)
  bool operator==(const verdict& o) const {
    return status == o.status && failed == o.failed && body == o.body && bytes == o.bytes &&
           keep_alive == o.keep_alive && left == o.left;
  }
};

/// The wire cut into pieces; `more` appends the next one to the buffer.
struct feed {
  std::vector<std::string> pieces;
  std::size_t next = 0;
  std::string buf;
  bool more() {
    if (next == pieces.size()) {
      return false;
    }
    buf += pieces[next++];
    return true;
  }
};

const std::filesystem::path& temp_root() {
  static const std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("sluice-fuzz-reader-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::filesystem::remove_all(temp_root()); });
    return d;
  }();
  return dir;
}

/// Feeds the buffer to the parser until it is done with `phase` (the header
/// or the whole message), reading more pieces as the exchange reads the
/// socket. False when the response failed.
template <class Done>
bool pump(feed& f, hd::response_reader& p, hd::outcome& out, bool body, Done done) {
  while (!done()) {
    error_code ec;
    std::size_t used = 0;
    if (!f.buf.empty()) {
      used = p.put(boost::asio::buffer(f.buf), ec);
      f.buf.erase(0, used);
      if (ec == bhttp::error::need_more) {
        ec = {};
      }
    }
    if (out.failed()) {
      return false;
    }
    if (ec) {
      return false;
    }
    if (used > 0 || done()) {
      continue;
    }
    if (body && f.buf.size() > k_max_header) {
      return false;  // a chunk header or trailers past max_header
    }
    if (!f.more()) {
      if (!p.got_some()) {
        return false;  // end_of_stream
      }
      p.put_eof(ec);
      if (ec) {
        return false;
      }
    }
  }
  return true;
}

/// The head pre-scan: wait for the whole head (bounded), then rewrite it as
/// curl reads it. False when it fails.
bool prescan(feed& f) {
  for (;;) {
    if (f.buf.size() >= 5 && !f.buf.starts_with("HTTP/")) {
      return true;  // not HTTP: the parser says so
    }
    if (auto len = hd::head_length(f.buf)) {
      if (auto fixed = hd::normalize_head(std::string_view(f.buf).substr(0, len))) {
        f.buf = *fixed + f.buf.substr(len);
      }
      return true;
    }
    if (f.buf.size() > k_max_header || !f.more()) {
      return false;
    }
  }
}

verdict drive(const std::vector<std::string>& pieces, bool head, bool decode) {
  static hd::temp_files files(temp_root());
  static hd::header_selection keep({"etag", "retry-after", "x-custom"});
  hd::reader_settings rs{k_max_header, decode, &keep};
  feed f{pieces};
  verdict v;
  sluice::result r;
  hd::outcome out;
  hd::body_sink sink(r, {.max_decoded = k_max_body, .memory_body = 64 << 10, .keep = true}, files,
                     0);
  std::uint64_t interim = 0;
  for (;;) {
    hd::response_reader p(rs, r, sink, out);
    p.header_limit(static_cast<std::uint32_t>(k_max_header));
    p.body_limit(k_max_body);
    p.skip(head);
    if (!prescan(f) || !pump(f, p, out, false, [&] { return p.is_header_done(); })) {
      v.failed = true;
      v.why = "head: " + out.message;
      return v;
    }
    if (r.status >= 100 && r.status <= 199) {
      interim += p.header_bytes();
      if (r.status == 101 || interim > k_max_header) {
        v.failed = true;
        return v;
      }
      r = sluice::result{};
      continue;
    }
    if (!pump(f, p, out, true, [&] { return p.is_done(); }) || p.truncated_encoding()) {
      v.failed = true;
      v.why = "body: " + out.message + (p.truncated_encoding() ? " (truncated encoding)" : "");
      return v;
    }
    if (auto failure = sink.finish()) {
      v.failed = true;
      return v;
    }
    v.status = r.status;
    v.bytes = r.bytes;
    v.body = r.body_file.empty() ? r.body : std::string("<file>");
    if (!r.body_file.empty()) {
      std::filesystem::remove(r.body_file);
    }
    v.keep_alive = p.keep_alive();
    while (f.more()) {
    }
    v.left = f.buf.size();
    return v;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  bool head = fdp.ConsumeBool();
  bool decode = fdp.ConsumeBool();
  std::vector<std::size_t> cuts(fdp.ConsumeIntegralInRange<std::size_t>(0, 6));
  for (auto& c : cuts) {
    c = fdp.ConsumeIntegral<std::uint16_t>();
  }
  std::string wire = fdp.ConsumeRemainingBytesAsString();
  for (auto& c : cuts) {
    c = wire.empty() ? 0 : c % (wire.size() + 1);
  }
  std::sort(cuts.begin(), cuts.end());
  std::vector<std::string> pieces;
  std::size_t at = 0;
  for (auto c : cuts) {
    pieces.push_back(wire.substr(at, c - at));
    at = c;
  }
  pieces.push_back(wire.substr(at));
  verdict whole = drive({wire}, head, decode);
  verdict cut = drive(pieces, head, decode);
  if (!(whole == cut)) {
    // The outcome depended on where the stream was cut.
    auto show = [](const char* what, const verdict& v) {
      std::fprintf(stderr,
                   "reader: %s: status %d failed %d (%s) bytes %llu body %zu keep_alive %d "
                   "left %zu\n",
                   what, v.status, v.failed, v.why.c_str(),
                   static_cast<unsigned long long>(v.bytes), v.body.size(), v.keep_alive, v.left);
    };
    show("whole", whole);
    show("cut", cut);
    std::abort();
  }
  return 0;
}
