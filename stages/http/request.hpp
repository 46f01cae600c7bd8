// The bytes of the http consumer's requests: every configured field (and the
// body) serialized by Beast once per consumer, the request line and Host per
// hop. Credentials are left out of a request to another origin than the
// item's after a redirect unless redirects are trusted (curl's rule).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/item.hpp"

#include "http_config.hpp"
#include "target.hpp"

namespace sluice::stages::http {

/// Thread safety: immutable after construction.
class request_template {
 public:
  explicit request_template(const config& cfg);

  /// The request for one hop to `t`. `foreign`: another origin than the
  /// item's (no credentials unless `redirect_trusted`).
  std::string build(const target& t, std::string_view method, bool with_body, bool foreign) const;

  /// The request for one hop of an item whose record overrides the request
  /// (`spec.overrides_request()`), built by Beast per call: the record's
  /// method (passed in `method`), its headers over the configured ones of
  /// the same name, its body over the configured body. With a `body_file`,
  /// the head only, with Content-Length `file_size`; the caller streams
  /// the file after it. Credentials, the record's too, follow the same
  /// rule as in build().
  std::string build_for(const target& t, std::string_view method, bool with_body, bool foreign,
                        const request_spec& spec, std::uint64_t file_size) const;
  /// One template per `hosts:` rule of `cfg` (each with its rule's headers).
  static std::vector<request_template> for_rules(const config& cfg);

  /// The user set this request field in `headers` (case-insensitive).
  static bool user_sets(const config& cfg, std::string_view field);

 private:
  std::string tail(const config& cfg, bool with_body, bool foreign) const;

  const config& cfg_;
  std::string authorization_;
  bool host_overridden_;
  /// Everything after the request line, indexed [with_body][foreign].
  std::array<std::array<std::string, 2>, 2> tails_;
};

}  // namespace sluice::stages::http
