// The one table of per-item failure kinds (see fetch_error.hpp).
#include "sluice/core/fetch_error.hpp"

#include <array>
#include <cerrno>

#include <fmt/format.h>

namespace sluice {

namespace {

using E = fetch_errc;
using C = fetch_condition;

// Enum order; a static_assert below keeps it so.
constexpr std::array<fetch_error_info, 28> k_errors{{
    {E::bad_url, "bad_url", "url", C::url,
     "the item's URL cannot be fetched: no scheme, a scheme other than http/https (`ftp://`), "
     "empty host, bad port (`:99999`, `:abc`), spaces or other characters a URL cannot hold"},
    {E::resolve, "resolve", "dns", C::resolve, "DNS resolution failed"},
    {E::connect, "connect", "connect", C::connect,
     "the TCP connection failed (refused, unreachable)"},
    {E::tls, "tls", "tls", C::tls,
     "the TLS handshake failed (certificate not trusted, wrong host name, protocol error); the "
     "message includes OpenSSL's verify result"},
    {E::write, "write", "write", C::reset,
     "the connection failed while sending the request (reset, closed early)"},
    {E::read, "read", "read", C::reset,
     "the connection failed while reading the response (reset, closed early)"},
    {E::protocol, "protocol", "read", C::protocol, "the response is not valid HTTP/1.1"},
    {E::timeout_connect, "timeout_connect", "connect", C::timeout,
     "`timeouts.connect` passed (DNS + TCP + TLS)"},
    {E::timeout_header, "timeout_header", "header", C::timeout,
     "`timeouts.header` passed before the response header was complete"},
    {E::timeout_total, "timeout_total", "any", C::timeout,
     "`timeouts.total` passed for the attempt"},
    {E::too_slow, "too_slow", "body", C::too_slow,
     "the body arrived slower than `timeouts.min_speed`"},
    {E::header_limit, "header_limit", "header", C::limit,
     "the response header is larger than `max_header`"},
    {E::body_limit, "body_limit", "body", C::limit,
     "the body is larger than `max_body` (as received) or, decoded, than `max_decoded`"},
    {E::decode, "decode", "body", C::body, "a gzip, deflate or br body is corrupt or cut short"},
    {E::body_file, "body_file", "body", C::body, "the temporary body file could not be written"},
    {E::redirect_loop, "redirect_loop", "redirect", C::redirect,
     "a redirect leads back to a URL already visited for this item"},
    {E::redirect_scheme, "redirect_scheme", "redirect", C::redirect,
     "a redirect points to a non-http(s) URL (`ftp:`, `file:`) or an unparsable `Location`"},
    {E::too_many_redirects, "too_many_redirects", "redirect", C::redirect,
     "more than `redirects` hops"},
    {E::http_status, "http_status", "status", C::status, "the final status matches `fail_status`"},
    {E::cancelled, "cancelled", "any", C::cancelled,
     "the run was interrupted (second signal) while the item was in flight"},
    {E::exception, "exception", "any", C::internal,
     "the consumer stage threw (a bug in the stage); the pipeline stops with exit code 1"},
    {E::environment, "environment", "any", C::environment,
     "the machine, not the item, failed: no space left in `TMPDIR` (ENOSPC, EDQUOT), a read-only "
     "file system (EROFS), no file descriptor left for a file (EMFILE, ENFILE; a socket waits "
     "for a descriptor until the total timeout first); retried with the item's "
     "retries, then the run stops with exit code 1 (with state the item is not done: the next "
     "run fetches it)"},
    {E::bad_record, "bad_record", "input", C::input,
     "a `jsonl` or `csv` producer's record is not a request: not JSON (or not a CSV row), not an "
     "object, no `url`, a field of the wrong type; the message names the file and line"},
    {E::request_file, "request_file", "write", C::input,
     "the item's `body_file` cannot be opened or read, or changed size while it was sent"},
    {E::robots, "robots", "robots", C::policy,
     "with `robots: obey`, the origin's robots.txt disallows the URL (or could not be fetched "
     "because of a 5xx or a network failure, which disallows everything); never requested, never "
     "retried"},
    {E::proxy_connect, "proxy_connect", "connect", C::proxy,
     "the proxy (`proxy`, `http_proxy`, `https_proxy`) cannot be resolved or connected to, or "
     "closed the connection or answered CONNECT with something not HTTP; retried as `connect`"},
    {E::proxy_auth, "proxy_auth", "connect", C::proxy,
     "the proxy answered 407 (Proxy Authentication Required): no or wrong credentials in the "
     "proxy URL; never retried"},
    {E::proxy_status, "proxy_status", "connect", C::proxy,
     "the proxy refused the CONNECT tunnel for an https URL with a status other than 2xx and 407 "
     "(the message has it: `proxy CONNECT 403`)"},
}};

constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < k_errors.size(); ++i) {
    if (static_cast<std::size_t>(k_errors[i].code) != i + 1) {
      return false;
    }
  }
  return true;
}
static_assert(in_enum_order(), "k_errors must list fetch_errc in enum order");

constexpr std::array<std::string_view, 18> k_conditions{
    "url",       "resolve",  "connect",     "tls",   "reset",    "protocol",
    "timeout",   "too_slow", "limit",       "body",  "redirect", "status",
    "cancelled", "internal", "environment", "input", "policy",   "proxy"};

class fetch_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sluice.fetch"; }
  std::string message(int ev) const override {
    if (ev < 1 || ev > static_cast<int>(k_errors.size())) {
      return "unknown fetch error";
    }
    return std::string(k_errors[static_cast<std::size_t>(ev - 1)].doc);
  }
  boost::system::error_condition default_error_condition(int ev) const noexcept override {
    if (ev < 1 || ev > static_cast<int>(k_errors.size())) {
      return {ev, *this};
    }
    return make_error_condition(k_errors[static_cast<std::size_t>(ev - 1)].condition);
  }
};

class condition_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sluice.fetch_condition"; }
  std::string message(int ev) const override {
    if (ev < 1 || ev > static_cast<int>(k_conditions.size())) {
      return "unknown fetch condition";
    }
    return std::string(k_conditions[static_cast<std::size_t>(ev - 1)]);
  }
};

}  // namespace

std::span<const fetch_error_info> fetch_errors() noexcept {
  return k_errors;
}

const fetch_error_info& info(fetch_errc e) noexcept {
  return k_errors[static_cast<std::size_t>(e) - 1];
}

std::optional<fetch_errc> fetch_errc_from_name(std::string_view kind) noexcept {
  for (auto& e : k_errors) {
    if (e.name == kind) {
      return e.code;
    }
  }
  return std::nullopt;
}

std::string_view name(fetch_condition c) noexcept {
  return k_conditions[static_cast<std::size_t>(c) - 1];
}

std::optional<fetch_condition> fetch_condition_from_name(std::string_view cls) noexcept {
  for (std::size_t i = 0; i < k_conditions.size(); ++i) {
    if (k_conditions[i] == cls) {
      return static_cast<fetch_condition>(i + 1);
    }
  }
  return std::nullopt;
}

std::string_view error_class_of(std::string_view kind) noexcept {
  auto e = fetch_errc_from_name(kind);
  return e ? name(info(*e).condition) : std::string_view{};
}

bool is_environment_errno(int e) noexcept {
  return e == ENOSPC || e == EDQUOT || e == EROFS || e == EMFILE || e == ENFILE;
}

std::string fetch_errors_markdown() {
  std::string out = "| kind | class | when |\n| --- | --- | --- |\n";
  for (auto& e : k_errors) {
    out += fmt::format("| `{}` | `{}` | {} |\n", e.name, name(e.condition), e.doc);
  }
  return out;
}

const boost::system::error_category& fetch_category() noexcept {
  static const fetch_category_impl instance;
  return instance;
}

const boost::system::error_category& fetch_condition_category() noexcept {
  static const condition_category_impl instance;
  return instance;
}

}  // namespace sluice
