// The wire side of the http consumer: one transport per consumer builds the
// requests (every configured field serialized by Beast once) and runs
// attempts: a pooled connection or a new one (connector), the request
// written, the response header and body read (response_reader) under the
// phase deadlines and the speed guard, the connection handed back for reuse
// only when nothing of another response is left on it. Beast stays behind
// this header (its TU, the connector's and the reader's).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "connector.hpp"
#include "http_config.hpp"
#include "origin_table.hpp"
#include "outcome.hpp"
#include "target.hpp"

namespace sluice::stages::http {

/// Thread safety: `request` and `attempt` from any worker at once (the
/// transport is immutable after construction; each attempt's state is its
/// caller's).
class transport {
 public:
  /// Throws config_error for a TLS CA file that cannot be loaded.
  explicit transport(const config& cfg);
  ~transport();

  /// The request for one hop: the request line and Host per URL, the rest
  /// prepared at construction. `foreign`: for another origin than the
  /// item's, where credentials are left out unless redirects are trusted
  /// (curl's rule).
  /// `o`'s `hosts:` rule may add headers. With `spec` (a record that
  /// overrides the request), built for the item (request_template::build_for;
  /// `file_size`: its body_file's size).
  std::string request(const origin& o, const target& t, std::string_view method, bool with_body,
                      bool foreign, const request_spec* spec = nullptr,
                      std::uint64_t file_size = 0) const;

  /// One attempt: forgets the previous response, takes a pooled connection
  /// of `o` or opens one, writes `request`, reads the response into the
  /// result and body sink. A pooled connection the server had closed is
  /// replaced by a new one once, transparently.
  boost::asio::awaitable<outcome> attempt(attempt_context& ctx, origin& o, const target& t,
                                          const std::string& request, bool head) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::stages::http
