// The http consumer's response parser (see response_reader.hpp).
#include "response_reader.hpp"

#include <fmt/format.h>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace sluice::stages::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using error_code = boost::system::error_code;

bool is_reset(const error_code& ec) {
  return ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::connection_aborted ||
         ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == ssl::error::stream_truncated;
}

/// Maps a Beast/Asio error of the exchange in `phase_kind` (write or read)
/// to a failure; a timeout is `timeout_kind`.
fetch_failure classify(const config& cfg, const error_code& ec, fetch_errc phase_kind,
                       fetch_errc timeout_kind) {
  std::string_view phase = name(phase_kind);
  if (ec == beast::error::timeout) {
    if (timeout_kind == fetch_errc::timeout_header) {
      return {timeout_kind, fmt::format("no complete response header within {} ({})",
                                        format_duration(cfg.header_timeout), phase)};
    }
    return {timeout_kind, fmt::format("attempt exceeded the total timeout of {} ({})",
                                      format_duration(cfg.total_timeout), phase)};
  }
  if (ec == net::error::operation_aborted) {
    return {fetch_errc::cancelled, std::string(name(fetch_errc::cancelled))};
  }
  if (ec == bhttp::error::header_limit) {
    return {fetch_errc::header_limit,
            fmt::format("response header exceeds max_header ({} bytes)", cfg.max_header)};
  }
  if (ec == bhttp::error::body_limit) {
    return {fetch_errc::body_limit,
            fmt::format("response body exceeds max_body ({} bytes)", cfg.max_body)};
  }
  if (is_reset(ec)) {
    return {phase_kind,
            fmt::format("{} failed: connection closed by peer ({})", phase, ec.message())};
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
    return {fetch_errc::protocol, fmt::format("malformed response: {}", ec.message())};
  }
  return {phase_kind, fmt::format("{} failed: {}", phase, ec.message())};
}

std::size_t head_length(std::string_view in) {
  for (std::size_t lf = in.find('\n'); lf != std::string_view::npos; lf = in.find('\n', lf + 1)) {
    if (lf + 1 < in.size() && in[lf + 1] == '\n') {
      return lf + 2;
    }
    if (lf + 2 < in.size() && in[lf + 1] == '\r' && in[lf + 2] == '\n') {
      return lf + 3;
    }
  }
  return 0;
}

std::optional<std::string> normalize_head(std::string_view head) {
  bool bare_lf = false;
  for (std::size_t i = head.find('\n'); i != std::string_view::npos; i = head.find('\n', i + 1)) {
    if (i == 0 || head[i - 1] != '\r') {
      bare_lf = true;
      break;
    }
  }
  // "HTTP/1.1 200" then the line end: the reason phrase and its space missing.
  auto eol = head.find_first_of("\r\n");
  bool no_reason = eol == 12 && head.starts_with("HTTP/");
  if (!bare_lf && !no_reason) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(head.size() + 16);
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (i == eol && no_reason) {
      out += ' ';
    }
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) {
      out += '\r';
    }
    out += head[i];
  }
  return out;
}

header_selection::header_selection(const std::vector<std::string>& names) {
  for (auto& name : names) {
    auto f = bhttp::string_to_field(name);
    if (f == bhttp::field::unknown) {
      other_.push_back(name);
    } else {
      known_.emplace_back(f, name);
    }
  }
}

const std::string* header_selection::find(bhttp::field f, std::string_view name) const {
  if (f != bhttp::field::unknown) {
    for (auto& [k, n] : known_) {
      if (k == f) {
        return &n;
      }
    }
    return nullptr;
  }
  for (auto& n : other_) {
    if (beast::iequals(n, name)) {
      return &n;
    }
  }
  return nullptr;
}

void response_reader::on_response_impl(int code, beast::string_view reason, int, error_code&) {
  r_.status = code;
  header_bytes_ = 15 + reason.size();
}

void response_reader::on_field_impl(bhttp::field name, beast::string_view name_string,
                                    beast::string_view value, error_code& ec) {
  // Beast checks header_limit per parse call, and fields parsed by one call
  // are consumed before the next, so count the whole header here.
  header_bytes_ += name_string.size() + value.size() + 4;
  if (header_bytes_ > s_.max_header) {
    ec = bhttp::error::header_limit;
    return;
  }
  std::string_view v(value.data(), value.size());
  switch (name) {
    case bhttp::field::content_type:
      r_.content_type.assign(v);
      break;
    case bhttp::field::content_encoding:
      // Repeated fields form one list (RFC 9110 section 5.3).
      if (!encoding_.empty()) {
        encoding_ += ", ";
      }
      encoding_.append(v);
      break;
    case bhttp::field::retry_after:
      out_.retry_after_value.assign(v);
      break;
    case bhttp::field::location:
      out_.location.assign(v);
      break;
    case bhttp::field::set_cookie:
      if (s_.cookies && set_cookies_.size() < 1000) {
        set_cookies_.emplace_back(v);
      }
      break;
    default:
      break;
  }
  if (s_.keep == nullptr) {
    return;
  }
  if (const std::string* keep =
          s_.keep->find(name, std::string_view(name_string.data(), name_string.size()))) {
    if (r_.headers.empty()) {
      r_.headers.reserve(s_.keep->size());
    }
    r_.headers.emplace_back(*keep, std::string(v));
  }
}

// Only a complete head's cookies count (not those of one cut short).
void response_reader::on_header_impl(error_code&) {
  for (auto& c : set_cookies_) {
    out_.set_cookies.push_back(std::move(c));
  }
  set_cookies_.clear();
}

void response_reader::on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) {
  if (s_.decode && !encoding_.empty()) {
    dec_ = decoder_chain::for_encoding(encoding_);  // none: kept as received
    if (dec_ && dec_->empty()) {
      dec_.reset();  // only `identity`
    }
  }
  if (!dec_ && length) {
    body_.expect(*length);
  }
}

std::size_t response_reader::on_body_impl(beast::string_view body, error_code& ec) {
  wire_bytes_ += body.size();
  std::optional<fetch_failure> failed;
  auto sink = [&](const char* d, std::size_t n) {
    failed = body_.append(d, n);
    return !failed;
  };
  std::string message;
  bool ok =
      dec_ ? dec_->feed(body.data(), body.size(), sink, message) : sink(body.data(), body.size());
  if (!ok) {
    if (failed) {
      out_.fail(std::move(*failed));
    } else {
      out_.fail(fetch_errc::decode, std::move(message));
    }
    // Any error stops the parser; out_.kind says which.
    ec = make_error_code(boost::system::errc::illegal_byte_sequence);
  }
  return body.size();
}

}  // namespace sluice::stages::http
