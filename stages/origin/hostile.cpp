// The table of hostile cases (see hostile.hpp).
#include "hostile.hpp"

#include <array>
#include <stdexcept>

#include <brotli/encode.h>
#include <fmt/format.h>
#include <zlib.h>

namespace sluice::stages::origin {

namespace {

using namespace std::chrono_literals;
using end = hostile_script::end;

/// A response as raw bytes: `status` is the whole status line without its
/// CRLF, `fields` are written as given (each ends with CRLF here).
std::string raw(std::string_view status, std::initializer_list<std::string_view> fields,
                std::string_view body = {}) {
  std::string out(status);
  out += "\r\n";
  for (auto f : fields) {
    out.append(f).append("\r\n");
  }
  out += "\r\n";
  out += body;
  return out;
}

/// A well-formed 200 with a body of `body` and a Content-Length.
std::string ok(std::string_view body, std::string_view extra_field = {}) {
  std::string len = fmt::format("Content-Length: {}", body.size());
  if (extra_field.empty()) {
    return raw("HTTP/1.1 200 OK", {"Content-Type: text/plain", len}, body);
  }
  return raw("HTTP/1.1 200 OK", {"Content-Type: text/plain", len, extra_field}, body);
}

/// zlib's compression of `in` repeated `times` times: gzip framing when
/// `gzip`, raw deflate otherwise. Streamed, so a bomb never sits in memory.
std::string compress(std::string_view in, bool gzip, std::uint64_t times = 1,
                     int level = Z_BEST_COMPRESSION) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, gzip ? 15 + 16 : -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out;
  std::array<char, 64 * 1024> chunk{};
  for (std::uint64_t i = 0; i < times; ++i) {
    bool last = i + 1 == times;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    int rc = Z_OK;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
      zs.avail_out = static_cast<uInt>(chunk.size());
      rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
      out.append(chunk.data(), chunk.size() - zs.avail_out);
    } while (zs.avail_out == 0 || (last && rc != Z_STREAM_END));
  }
  deflateEnd(&zs);
  return out;
}

/// Brotli's compression of `in` (quality 5).
std::string brotli(std::string_view in) {
  std::string out(BrotliEncoderMaxCompressedSize(in.size()) + 16, '\0');
  std::size_t n = out.size();
  if (!BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, in.size(),
                             reinterpret_cast<const std::uint8_t*>(in.data()), &n,
                             reinterpret_cast<std::uint8_t*>(out.data()))) {
    throw std::runtime_error("BrotliEncoderCompress failed");
  }
  out.resize(n);
  return out;
}

std::string text_of(std::size_t n) {
  std::string s;
  s.reserve(n);
  for (std::size_t i = 0; s.size() < n; ++i) {
    s += fmt::format("line {}\n", i);
  }
  s.resize(n);
  return s;
}

std::string encoded(std::string_view coding, const std::string& body) {
  return raw("HTTP/1.1 200 OK",
             {"Content-Type: text/plain", fmt::format("Content-Encoding: {}", coding),
              fmt::format("Content-Length: {}", body.size())},
             body);
}

hostile_script once(std::string bytes, end then = end::keep) {
  return {{{std::move(bytes)}}, then};
}

hostile_script redirect_to(std::string_view location) {
  return once(
      raw("HTTP/1.1 302 Found", {fmt::format("Location: {}", location), "Content-Length: 0"}));
}

hostile_script retry_after(std::string_view status, std::string_view value) {
  return once(raw(status, {fmt::format("Retry-After: {}", value), "Content-Length: 3"}, "no\n"));
}

// clang-format off
const hostile_case k_cases[] = {
  // Header size and timing.
  hostile_case{"header-flood", "header", "an endless header (64 KiB lines of X-Flood)", {fetch_errc::header_limit},
    [] { return hostile_script{{{"HTTP/1.1 200 OK\r\n"}, {"X-Flood: " + std::string(65000, 'a') + "\r\n", 100000}}}; }},
  {"header-dribble", "header", "the header one byte every 100 ms", {fetch_errc::timeout_header},
    [] {
      hostile_script s;
      for (char c : ok("late\n")) {
        s.steps.push_back({std::string(1, c), 1, 100ms});
      }
      return s;
    }},
  {"no-reason", "header", "a status line without a reason phrase (`HTTP/1.1 200`)", {{}, 6},
    [] { return once(raw("HTTP/1.1 200", {"Content-Length: 6"}, "hello\n")); }},
  {"bare-lf", "header", "bare LF line endings throughout the header", {{}, 6},
    [] { return once("HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 6\n\nhello\n"); }},
  {"bad-status", "header", "a status line that is not HTTP (`HTTP/1.1 abc`)", {fetch_errc::protocol},
    [] { return once(raw("HTTP/1.1 abc Nope", {"Content-Length: 0"}), end::close); }},
  {"not-http", "header", "an answer that is not HTTP at all", {fetch_errc::protocol},
    [] { return once("SSH-2.0-OpenSSH_9.2\r\n", end::close); }},
  {"nul-in-header", "header", "a NUL byte inside a header value", {fetch_errc::protocol},
    [] { return once(raw("HTTP/1.1 200 OK", {std::string_view("X-Bad: a\0b", 10), "Content-Length: 2"}, "x\n"), end::close); }},
  {"http10-until-close", "header", "an HTTP/1.0 response whose body ends at the close", {{}, 12},
    [] { return once("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close\n", end::close); }},
  // Interim responses.
  {"early-hints", "interim", "`103 Early Hints` before the `200`", {{}, 6},
    [] { return once(raw("HTTP/1.1 103 Early Hints", {"Link: </style.css>; rel=preload"}) + ok("hello\n")); }},
  {"continue", "interim", "`100 Continue` before the `200`, unasked", {{}, 6},
    [] { return once(raw("HTTP/1.1 100 Continue", {}) + ok("hello\n")); }},
  {"many-interim", "interim", "twenty `103`s, then the `200`", {{}, 6},
    [] { return hostile_script{{{raw("HTTP/1.1 103 Early Hints", {"Link: </a>"}), 20}, {ok("hello\n")}}, end::keep}; }},
  {"endless-interim", "interim", "`103` responses without end", {fetch_errc::header_limit},
    [] { return hostile_script{{{raw("HTTP/1.1 103 Early Hints", {"Link: </a>"}), 10000000}}}; }},
  {"switching-protocols", "interim", "`101 Switching Protocols` nobody asked for", {fetch_errc::protocol},
    [] { return once(raw("HTTP/1.1 101 Switching Protocols", {"Upgrade: websocket", "Connection: Upgrade"}) + "\x81\x05hello", end::close); }},
  // Framing.
  {"cl-too-long", "framing", "`Content-Length: 100`, then 10 bytes and the close", {fetch_errc::read},
    [] { return once(raw("HTTP/1.1 200 OK", {"Content-Length: 100"}, "ten bytes\n"), end::close); }},
  {"cl-too-short", "framing", "`Content-Length: 6` followed by more bytes than that on a keep-alive connection", {{}, 6},
    [] { return once(raw("HTTP/1.1 200 OK", {"Content-Length: 6"}, "hello\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nWRONG\n")); }},
  {"cl-conflict", "framing", "two different Content-Length fields", {fetch_errc::protocol},
    [] { return once(raw("HTTP/1.1 200 OK", {"Content-Length: 6", "Content-Length: 7"}, "hello\n!"), end::close); }},
  {"cl-and-chunked", "framing", "both Content-Length and chunked (a smuggling shape)", {fetch_errc::protocol},
    [] { return once(raw("HTTP/1.1 200 OK", {"Content-Length: 3", "Transfer-Encoding: chunked"}, "6\r\nhello\n\r\n0\r\n\r\n"), end::close); }},
  {"cl-negative", "framing", "`Content-Length: -1`", {fetch_errc::protocol},
    [] { return once(raw("HTTP/1.1 200 OK", {"Content-Length: -1"}, "x"), end::close); }},
  {"cl-huge", "framing", "a Content-Length of 30 digits", {fetch_errc::protocol},
    [] { return once(raw("HTTP/1.1 200 OK", {"Content-Length: 999999999999999999999999999999"}, "x"), end::close); }},
  {"chunk-bad-size", "framing", "a chunk size that is not hex (`zz`)", {fetch_errc::protocol},
    [] { return once(raw("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"}, "zz\r\nhello\r\n0\r\n\r\n"), end::close); }},
  {"chunk-truncated", "framing", "a chunk cut short by the close", {fetch_errc::read},
    [] { return once(raw("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"}, "10\r\nshort"), end::close); }},
  {"chunk-no-end", "framing", "chunks, then silence without the last chunk", {fetch_errc::too_slow},
    [] { return hostile_script{{{raw("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"}, "6\r\nhello\n\r\n"), 1, 10s}}}; }},
  {"trailer-flood", "framing", "a last chunk followed by an endless trailer section", {fetch_errc::header_limit},
    [] { return hostile_script{{{raw("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"}, "6\r\nhello\n\r\n0\r\n")}, {"X-Trailer: " + std::string(65000, 't') + "\r\n", 100000}}}; }},
  {"trailer-line-flood", "framing", "one trailer line without end", {fetch_errc::header_limit},
    [] { return hostile_script{{{raw("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"}, "6\r\nhello\n\r\n0\r\nX-T: ")}, {std::string(65536, 't'), 10000}}}; }},
  {"chunk-ext-flood", "framing", "a chunk extension without end", {fetch_errc::header_limit},
    [] { return hostile_script{{{raw("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"}, "6;ext=")}, {std::string(65536, 'e'), 10000}}}; }},
  {"chunked-trailers", "framing", "a chunked body with extensions and a trailer", {{}, 11},
    [] { return once(raw("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"}, "5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n")); }},
  // Connection behaviour.
  {"reset-at-once", "connection", "a TCP reset instead of a response", {fetch_errc::read},
    [] { return hostile_script{{}, end::reset}; }},
  {"close-at-once", "connection", "the close instead of a response", {fetch_errc::read},
    [] { return hostile_script{{}, end::close}; }},
  {"reset-mid-body", "connection", "half the body, then a TCP reset", {fetch_errc::read},
    [] { return hostile_script{{{raw("HTTP/1.1 200 OK", {"Content-Length: 1000"}, std::string(500, 'x')), 1, 50ms}}, end::reset}; }},
  {"stall-header", "connection", "the request read, then silence", {fetch_errc::timeout_header},
    [] { return hostile_script{{{"", 1, 10s}}}; }},
  {"garbage-after", "connection", "a response, then a second unasked one on the same connection", {{}, 6},
    [] { return once(ok("hello\n") + ok("WRONG\n")); }},
  {"garbage-later", "connection", "a response, then 100 ms later bytes nobody asked for", {{}, 6},
    [] { return hostile_script{{{ok("hello\n"), 1, 100ms}, {ok("WRONG\n")}}, end::keep}; }},
  // Encodings.
  {"gzip-bomb", "encoding", "256 MiB of zeros in 256 KiB: 256 gzip members of 1 MiB of zeros each", {fetch_errc::body_limit},
    [] {
      std::string member = compress(std::string(1 << 20, '\0'), true);
      std::string bomb;
      for (int i = 0; i < 256; ++i) {
        bomb += member;
      }
      return once(encoded("gzip", bomb));
    }},
  {"gzip-corrupt", "encoding", "a gzip body with damaged bytes", {fetch_errc::decode},
    [] {
      auto z = compress(text_of(100000), true);
      for (std::size_t i = z.size() / 3; i < z.size() / 3 + 16; ++i) {
        z[i] = static_cast<char>(~z[i]);
      }
      return once(encoded("gzip", z));
    }},
  {"gzip-truncated", "encoding", "the first half of a gzip body, framed as complete", {fetch_errc::decode},
    [] {
      auto z = compress(text_of(100000), true);
      return once(encoded("gzip", z.substr(0, z.size() / 2)));
    }},
  {"gzip-multi-member", "encoding", "two gzip members back to back (as `cat a.gz b.gz`)", {{}, 100000},
    [] { return once(encoded("gzip", compress(text_of(50000), true) + compress(text_of(50000), true))); }},
  {"gzip-stacked", "encoding", "`Content-Encoding: gzip, gzip` (compressed twice)", {{}, 100000},
    [] { return once(encoded("gzip, gzip", compress(compress(text_of(100000), true), true))); }},
  {"deflate-raw", "encoding", "`deflate` without the zlib wrapper (common)", {{}, 100000},
    [] { return once(encoded("deflate", compress(text_of(100000), false))); }},
  {"brotli", "encoding", "`Content-Encoding: br` (as CDNs send)", {{}, 100000},
    [] { return once(encoded("br", brotli(text_of(100000)))); }},
  {"brotli-truncated", "encoding", "the first half of a br body, framed as complete", {fetch_errc::decode},
    [] {
      auto b = brotli(text_of(100000));
      return once(encoded("br", b.substr(0, b.size() / 2)));
    }},
  {"gzip-in-brotli", "encoding", "`Content-Encoding: gzip, br` (gzip, then brotli)", {{}, 100000},
    [] { return once(encoded("gzip, br", brotli(compress(text_of(100000), true)))); }},
  {"unknown-coding", "encoding", "`Content-Encoding: zstd`: passed through as received", {{}, 9},
    [] { return once(encoded("zstd", "not zstd\n")); }},
  // Redirects.
  {"redirect-self", "redirect", "a redirect to itself", {fetch_errc::redirect_loop},
    [] { return redirect_to("/hostile/redirect-self"); }},
  {"redirect-ftp", "redirect", "a redirect to `ftp://`", {fetch_errc::redirect_scheme},
    [] { return redirect_to("ftp://127.0.0.1/file"); }},
  {"redirect-long-chain", "redirect", "a chain of 20 redirects (the limit is 10)", {fetch_errc::too_many_redirects},
    [] { return redirect_to("/redirect/20"); }},
  {"redirect-dot-segments", "redirect", "`Location: ../../../../item/dots` from a shallow path", {{}, 10},
    [] { return redirect_to("../../../../item/dots"); }},
  {"redirect-space", "redirect", "a Location with a raw space (`/item/a b`)", {{}, 9},
    [] { return redirect_to("/item/a b"); }},
  {"redirect-utf8", "redirect", "a Location with raw UTF-8 (`/item/café`)", {{}, 11},
    [] { return redirect_to("/item/caf\xc3\xa9"); }},
  {"redirect-empty", "redirect", "a `302` with an empty Location: not followed", {{}, 0},
    [] { return redirect_to(""); }},
  {"redirect-bad-location", "redirect", "a Location that is no URL at all (`http://[::1`)", {fetch_errc::redirect_scheme},
    [] { return redirect_to("http://[::1"); }},
  // Rate limiting.
  {"retry-after-seconds", "rate", "`429` with `Retry-After: 1`", {fetch_errc::http_status},
    [] { return retry_after("HTTP/1.1 429 Too Many Requests", "1"); }},
  {"retry-after-date", "rate", "`503` with a Retry-After HTTP-date in the past", {fetch_errc::http_status},
    [] { return retry_after("HTTP/1.1 503 Service Unavailable", "Wed, 21 Oct 2015 07:28:00 GMT"); }},
  {"retry-after-far", "rate", "`503` with `Retry-After: Fri, 31 Dec 9999 23:59:59 GMT`", {fetch_errc::http_status},
    [] { return retry_after("HTTP/1.1 503 Service Unavailable", "Fri, 31 Dec 9999 23:59:59 GMT"); }},
  {"retry-after-huge", "rate", "`429` with `Retry-After: 99999999999999999999`", {fetch_errc::http_status},
    [] { return retry_after("HTTP/1.1 429 Too Many Requests", "99999999999999999999"); }},
  {"retry-after-garbage", "rate", "`429` with `Retry-After: soon`", {fetch_errc::http_status},
    [] { return retry_after("HTTP/1.1 429 Too Many Requests", "soon"); }},
  // Slow bodies.
  {"slow-body", "slow", "a body of 1,000,000 bytes at 100 bytes a second", {fetch_errc::too_slow},
    [] { return hostile_script{{{raw("HTTP/1.1 200 OK", {"Content-Length: 1000000"})}, {std::string(10, 'x'), 100000, 100ms}}}; }},
};
// clang-format on

std::string escape_cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::span<const hostile_case> hostile_cases() {
  return k_cases;
}

const hostile_case* find_hostile_case(std::string_view name) {
  for (const auto& c : k_cases) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

std::string hostile_cases_markdown() {
  std::string out = "| case | group | what the origin does | sluice |\n| --- | --- | --- | --- |\n";
  for (const auto& c : k_cases) {
    out += fmt::format("| `/hostile/{}` | {} | {} | {} |\n", c.name, c.group, escape_cell(c.doc),
                       c.expect.kind == fetch_errc{} ? std::string("`ok`")
                                                     : fmt::format("`{}`", name(c.expect.kind)));
  }
  return out;
}

}  // namespace sluice::stages::origin
