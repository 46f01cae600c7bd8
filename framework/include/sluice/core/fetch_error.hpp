// Per-item failure kinds (result::error_kind) as one enum with one table:
// each kind's name, the phase it happens in, its class (the condition a
// filter's `error_class` and the http consumer's `retry.on` name) and the
// sentence the docs show. Beast's pattern: an error enum whose category maps
// every value to a coarser condition enum.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <boost/system/error_code.hpp>

namespace sluice {

/// What went wrong with one item. 0 is "no error".
enum class fetch_errc {
  bad_url = 1,
  resolve,
  connect,
  tls,
  write,
  read,
  protocol,
  timeout_connect,
  timeout_header,
  timeout_total,
  too_slow,
  header_limit,
  body_limit,
  decode,
  body_file,
  redirect_loop,
  redirect_scheme,
  too_many_redirects,
  http_status,
  cancelled,
  exception,
  environment,
  bad_record,
  request_file,
  robots,
  proxy_connect,
  proxy_auth,
  proxy_status,
};

/// The classes of fetch_errc: what a filter's `error_class` and the http
/// consumer's `retry.on` select.
enum class fetch_condition {
  url = 1,      ///< the URL cannot be fetched
  resolve,      ///< DNS
  connect,      ///< TCP connect
  tls,          ///< TLS handshake
  reset,        ///< the connection failed mid-exchange
  protocol,     ///< not valid HTTP/1.1
  timeout,      ///< any time limit
  too_slow,     ///< the minimum transfer speed
  limit,        ///< a size limit
  body,         ///< decoding or storing the body
  redirect,     ///< a redirect that cannot be followed
  status,       ///< fail_status matched
  cancelled,    ///< the run was interrupted
  internal,     ///< a stage threw
  environment,  ///< the machine, not the item: disk full, read-only, out of descriptors
  input,        ///< the producer's record is not a usable request
  policy,       ///< the site asks not to fetch the URL (robots.txt)
  proxy,        ///< the proxy failed or refused (proxy_connect, proxy_auth, proxy_status)
};

/// One row of the table.
struct fetch_error_info {
  fetch_errc code;
  std::string_view name;   ///< result::error_kind
  std::string_view phase;  ///< where it happens: url, dns, connect, tls, write, header, body, ...
  fetch_condition condition;
  std::string_view doc;  ///< when it happens, one sentence for the docs table
};

/// Every kind, in enum order. Thread safety: immutable.
std::span<const fetch_error_info> fetch_errors() noexcept;

/// The row of `e` (a valid enumerator). Thread safety: pure.
const fetch_error_info& info(fetch_errc e) noexcept;

/// The kind's name, as result::error_kind holds it. Thread safety: pure.
inline std::string_view name(fetch_errc e) noexcept {
  return info(e).name;
}

/// The kind named `kind`, if any. Thread safety: pure.
std::optional<fetch_errc> fetch_errc_from_name(std::string_view kind) noexcept;

/// The name of a condition (`timeout`, `reset`, ...). Thread safety: pure.
std::string_view name(fetch_condition c) noexcept;

/// The condition named `cls`, if any. Thread safety: pure.
std::optional<fetch_condition> fetch_condition_from_name(std::string_view cls) noexcept;

/// The class of an error_kind string ("" for an unknown or empty kind).
/// Thread safety: pure.
std::string_view error_class_of(std::string_view kind) noexcept;

/// The docs table of kinds (Markdown, `| kind | class | when |` rows), which
/// README.md and docs/http.md hold verbatim. Thread safety: pure.
std::string fetch_errors_markdown();

/// True when `e` (an errno value) means the machine failed, not the item:
/// no space (ENOSPC, EDQUOT), a read-only file system (EROFS), no descriptor
/// left (EMFILE, ENFILE). Such a failure is fetch_errc::environment: retried,
/// then the run stops, since every next item would fail the same way.
/// Thread safety: pure.
bool is_environment_errno(int e) noexcept;

/// The categories of fetch_errc and fetch_condition. Thread safety: immutable.
const boost::system::error_category& fetch_category() noexcept;
const boost::system::error_category& fetch_condition_category() noexcept;

inline boost::system::error_code make_error_code(fetch_errc e) noexcept {
  return {static_cast<int>(e), fetch_category()};
}
inline boost::system::error_condition make_error_condition(fetch_condition c) noexcept {
  return {static_cast<int>(c), fetch_condition_category()};
}

}  // namespace sluice

namespace boost::system {
template <>
struct is_error_code_enum<sluice::fetch_errc> : std::true_type {};
template <>
struct is_error_condition_enum<sluice::fetch_condition> : std::true_type {};
}  // namespace boost::system
