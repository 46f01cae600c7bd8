// The http consumer's response parser: a Beast basic_parser that keeps only
// what a result needs (the status, the selected headers, Location and
// Retry-After) and hands the body, decoded as it arrives, to a body sink: no
// field container, no intermediate body buffer. It is fed by the exchange;
// its unit test grinds it over every split point of its input.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>

#include "body_sink.hpp"
#include "http_config.hpp"
#include "inflater.hpp"
#include "outcome.hpp"

namespace sluice::stages::http {

/// The response headers copied into result::headers (`keep_headers`), split
/// by whether Beast knows the field: a known one is matched by its enum, the
/// rest by case-insensitive name.
/// Thread safety: immutable after construction.
class header_selection {
 public:
  explicit header_selection(const std::vector<std::string>& names);

  /// The configured spelling of the field, or null when it is not kept.
  const std::string* find(boost::beast::http::field f, std::string_view name) const;
  std::size_t size() const { return known_.size() + other_.size(); }

 private:
  std::vector<std::pair<boost::beast::http::field, std::string>> known_;
  std::vector<std::string> other_;
};

/// True for the errors of a connection the peer closed or reset (EOF, reset,
/// broken pipe, a truncated TLS stream, a message cut short).
/// Thread safety: pure.
bool is_reset(const boost::system::error_code& ec);

/// Maps an error of writing the request (`phase_kind` write) or reading the
/// response (read) to a failure; a timeout is `timeout_kind`.
/// Thread safety: pure.
fetch_failure classify(const config& cfg, const boost::system::error_code& ec,
                       fetch_errc phase_kind, fetch_errc timeout_kind);

/// The length of the response head (status line and fields, through the
/// empty line) at the start of `in`, with CRLF or bare LF line ends; 0 while
/// it is incomplete.
/// Thread safety: pure.
std::size_t head_length(std::string_view in);

/// The complete response head `head` rewritten the way curl and browsers
/// read it, for Beast's strict parser: bare LF line ends become CRLF, and a
/// status line without a reason phrase (`HTTP/1.1 200`) gets its space.
/// nullopt when it needs no change (the usual case).
/// Thread safety: pure.
std::optional<std::string> normalize_head(std::string_view head);

/// What the reader is configured with, per consumer.
struct reader_settings {
  std::uint64_t max_header = 64 << 10;  ///< the whole header, counted field by field
  bool decode = true;                   ///< gzip/deflate bodies are inflated
  const header_selection* keep = nullptr;
  bool cookies = false;  ///< Set-Cookie values go to the outcome (at most 1000)
};

/// Parses one response into a result, an outcome and a body sink.
/// A failure the reader itself finds (decode, body_limit, body_file) stops
/// the parser with an error and is recorded in the outcome.
/// Thread safety: one owner.
class response_reader final : public boost::beast::http::basic_parser<false> {
 public:
  response_reader(const reader_settings& s, result& r, body_sink& body, outcome& out)
      : s_(s), r_(r), body_(body), out_(out) {}

  /// Bytes of the head (status line and fields) parsed so far.
  std::uint64_t header_bytes() const { return header_bytes_; }

  /// Body bytes as received (before decoding).
  std::uint64_t wire_bytes() const { return wire_bytes_; }

  /// The body was compressed and its decoder saw no end: it was cut short.
  bool truncated_encoding() const { return dec_ && !dec_->finished() && wire_bytes_ > 0; }

 private:
  using error_code = boost::system::error_code;
  void on_request_impl(boost::beast::http::verb, boost::beast::string_view,
                       boost::beast::string_view, int, error_code&) override {}
  void on_response_impl(int code, boost::beast::string_view reason, int, error_code&) override;
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, error_code& ec) override;
  void on_header_impl(error_code&) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override;
  std::size_t on_body_impl(boost::beast::string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                 error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(error_code&) override {}

  const reader_settings& s_;
  result& r_;
  body_sink& body_;
  outcome& out_;
  std::optional<decoder_chain> dec_;  // when the body is gzip/deflate encoded
  std::string encoding_;
  std::vector<std::string> set_cookies_;  // until the head is complete
  std::uint64_t header_bytes_ = 0;
  std::uint64_t wire_bytes_ = 0;
};

}  // namespace sluice::stages::http
