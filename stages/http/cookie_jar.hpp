// The http consumer's cookie jar (`cookies:`): RFC 6265 storage and
// retrieval (Set-Cookie parsing, the cookie-date algorithm, domain and path
// matching, host-only cookies, public suffixes via libpsl, expiry, limits)
// and the Netscape cookie file curl and wget read and write. Pure: no
// sockets, no Beast; the consumer feeds it the Set-Cookie values of each
// response and asks it for each request's Cookie header.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::stages::http {

/// What a cookie rule needs of a request URL.
struct cookie_url {
  std::string_view host;  ///< any case; an IP without brackets
  bool ip = false;        ///< the host is an IP literal
  bool secure = false;    ///< https
  std::string_view path;  ///< origin-form target (a query is ignored); empty is "/"
};

/// One stored cookie (RFC 6265 section 5.3).
struct cookie {
  std::string name;
  std::string value;
  std::string domain;  ///< lower-case, no leading dot
  std::string path;
  std::int64_t expiry = 0;  ///< unix seconds, when persistent
  bool persistent = false;  ///< false: a session cookie (ends with the run)
  bool host_only = true;
  bool secure = false;
  bool http_only = false;
  std::uint64_t creation = 0;  ///< creation order (kept when a cookie is replaced)
  std::uint64_t last_access = 0;
};

/// The jar's limits (RFC 6265 section 6.1 minimums): a cookie over
/// `max_bytes` (name + value) is ignored; past `per_domain` cookies of one
/// domain or `total` ones, the least recently used go.
struct cookie_limits {
  std::size_t per_domain = 50;
  std::size_t total = 3000;
  std::size_t max_bytes = 4096;
};

/// RFC 6265 section 5.1.1: unix seconds, nullopt for a date it rejects.
/// Thread safety: pure.
std::optional<std::int64_t> parse_cookie_date(std::string_view text);

/// True when `domain` (lower-case) is a public suffix (`com`, `co.uk`) as
/// libpsl's list says (no implicit `*` rule: `localhost` is not one).
/// Thread safety: pure (libpsl's context is loaded once).
bool is_public_suffix(std::string_view domain);

/// RFC 6265 section 5.1.3 (`host` and `domain` lower-case).
/// Thread safety: pure.
bool domain_match(std::string_view host, std::string_view domain, bool host_is_ip);

/// RFC 6265 section 5.1.4: the default-path of a request path, and
/// whether `request_path` path-matches `cookie_path`.
/// Thread safety: pure.
std::string default_path(std::string_view request_path);
bool path_match(std::string_view request_path, std::string_view cookie_path);

/// Adds `cookies` (`a=1; b=2`) to the serialized request `request`: appended
/// to its Cookie field after `; ` when it has one (the user's own), else as a
/// new Cookie field at the end of the head. Nothing when `cookies` is empty.
/// Thread safety: pure.
void add_cookie_header(std::string& request, std::string_view cookies);

/// A Set-Cookie value parsed (RFC 6265 section 5.2) into a cookie for `u`
/// (section 5.3 steps 1 to 10), or why it is ignored (`why`).
/// Thread safety: pure.
std::optional<cookie> parse_set_cookie(const cookie_url& u, std::string_view set_cookie,
                                       std::int64_t now, const cookie_limits& limits,
                                       std::string& why);

/// Thread safety: every member from any thread at once (one mutex).
class cookie_jar {
 public:
  using time_point = std::chrono::system_clock::time_point;

  explicit cookie_jar(cookie_limits limits = {}) : limits_(limits) {}

  /// Stores (or, expired, deletes) the cookie of one Set-Cookie value of a
  /// response to `u`. Returns why it was ignored, empty when it was not.
  std::string set_from(const cookie_url& u, std::string_view set_cookie, time_point now);

  /// The Cookie header value for a request to `u` (`a=1; b=2`: longer paths
  /// first, then earlier creation), empty when no cookie applies.
  std::string header_for(const cookie_url& u, time_point now);

  /// The cookies not expired at `now`, in creation order.
  std::vector<cookie> cookies(time_point now) const;
  std::size_t size() const;

  /// Reads a Netscape cookie file's lines (`source` names it in warnings);
  /// returns a warning per line skipped (`source:line: why`).
  std::vector<std::string> load_netscape(std::istream& in, std::string_view source, time_point now);
  /// Writes the jar as a Netscape cookie file (session cookies with
  /// expiry 0, as curl does).
  void save_netscape(std::ostream& out, time_point now) const;

  /// load_netscape of a file; a missing file is an empty jar. Throws
  /// std::runtime_error when the file exists but cannot be read.
  std::vector<std::string> load_file(const std::filesystem::path& file, time_point now);
  /// save_netscape into `file` atomically (a temporary file beside it, mode
  /// 0600, then rename). Throws std::runtime_error when it cannot.
  void save_file(const std::filesystem::path& file, time_point now) const;

 private:
  /// Stores `c` (section 5.3 steps 11 and 12) under the lock.
  std::string store(cookie c, std::int64_t now, bool secure_origin);
  void evict(std::vector<cookie>& list, std::int64_t now);

  cookie_limits limits_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<cookie>, std::less<>> by_domain_;
  std::size_t count_ = 0;
  std::uint64_t clock_ = 0;  ///< creation and access order
};

}  // namespace sluice::stages::http
