// robots.txt as RFC 9309 defines it: a pure parse from the file's text and a
// crawler's product token to the rules of the group that applies, and the
// matcher that says whether a path may be fetched. No network, no Asio: the
// consumer fetches the file (robots_cache.hpp) and the parser is fuzzed and
// unit-tested on its own.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/item.hpp"

namespace sluice::stages::http {

/// The most of a robots.txt that is parsed (RFC 9309 §2.5: at least 500 KiB);
/// the rest is ignored.
inline constexpr std::size_t k_robots_parse_limit = 500 * 1024;

/// One `Allow` or `Disallow` line of the group that applies.
struct robots_rule {
  /// Percent-normalised (robots_normalize): `*` matches any run of octets, a
  /// final `$` the end of the path.
  std::string pattern;
  bool allow = false;
  std::size_t line = 0;  ///< 1-based line of the file, 0 for a made-up rule
};

/// What a robots.txt says to one crawler.
/// Thread safety: immutable after construction; share it freely.
struct robots_rules {
  std::vector<robots_rule> rules;
  /// `Crawl-delay` of the group that applies, in seconds (> 0), if any.
  std::optional<double> crawl_delay;
  /// Everything is disallowed (robots.txt unreachable, RFC 9309 §2.3.1.4).
  bool disallow_all = false;
  /// Where the rules came from, for messages (`HTTP 200, 12 rules`).
  std::string source;

  /// The decision for one path and the rule that made it (null: no rule
  /// matched, or the file was unreachable).
  struct verdict {
    bool allowed = true;
    const robots_rule* rule = nullptr;
  };

  /// Whether `target` (an origin-form path with its query, as sent in the
  /// request line; empty means `/`) may be fetched: the longest matching
  /// pattern wins, `Allow` wins a tie, no match allows, and `/robots.txt` is
  /// always allowed (§2.2.2).
  /// Thread safety: const.
  verdict check(std::string_view target) const;
};

/// Parses a robots.txt for the crawler whose product token is `token`
/// (letters, `-`, `_`): the first 500 KiB, lines ending in LF, CRLF or CR,
/// `#` comments, `key: value` lines with case-insensitive keys; unknown keys
/// and lines without a colon are ignored. The groups whose `User-agent`
/// matches the token (case-insensitively, by the value's leading letters,
/// `-` and `_`) are merged; without any, the `*` groups; without those,
/// nothing is disallowed. Empty `Allow`/`Disallow` values are ignored; a
/// pattern that starts with neither `/` nor `*` gets a leading `/`.
/// Thread safety: pure.
robots_rules parse_robots(std::string_view text, std::string_view token);

/// The rules an origin's robots.txt fetch `r` (redirects followed, retries
/// done) leaves for the crawler `token`, as RFC 9309 §2.3.1 says:
/// - a 2xx: the body parsed (a body cut at 500 KiB too);
/// - a 4xx but 429, or a redirect that cannot be followed (more than five
///   hops, a loop, another scheme), or a final 3xx: unavailable, nothing is
///   disallowed;
/// - a 429 or a 5xx, or no response (connect, DNS, timeout, reset, not
///   HTTP): unreachable, everything is disallowed (for the consumer's life:
///   sluice does not fetch it again).
/// `source` says which, for the messages of disallowed URLs.
/// Thread safety: pure.
robots_rules robots_from_response(const result& r, std::string_view token);

/// A path or pattern in the form RFC 9309 §2.2.2 compares: percent-encoded
/// octets of unreserved characters decoded, other escapes in upper case, raw
/// octets outside printable US-ASCII (and a `%` that starts no escape)
/// percent-encoded; everything else, `*` and `$` included, as it is.
/// Thread safety: pure.
std::string robots_normalize(std::string_view s);

/// True when the normalised `pattern` matches a prefix of the normalised
/// `path` (the whole of it with a final `$`).
/// Thread safety: pure.
bool robots_match(std::string_view pattern, std::string_view path);

/// The product token of a User-Agent value: its leading letters, `-` and `_`
/// (`sluice/0.2.0` gives `sluice`); empty when it starts otherwise.
/// Thread safety: pure.
std::string robots_product_token(std::string_view user_agent);

}  // namespace sluice::stages::http
