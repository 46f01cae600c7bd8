// What one attempt of the http consumer ended with, beyond what it wrote into
// the result (status, body, headers, timings): shared by the exchange, which
// fills it, and the fetch, which decides on retries and redirects from it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "sluice/core/fetch_error.hpp"

namespace sluice::stages::http {

/// A failure: its kind and the message the result carries.
struct fetch_failure {
  fetch_errc kind{};
  std::string message;
};

/// The end of one attempt.
struct outcome {
  fetch_errc kind{};  ///< none (0): a response was received
  std::string message;
  std::optional<std::chrono::nanoseconds> retry_after;  ///< parsed Retry-After
  std::string retry_after_value;                        ///< as received
  std::string location;      ///< the Location of a redirect status, else empty
  bool stale_reuse = false;  ///< a pooled connection failed before any response byte
  /// The Set-Cookie values of a complete response head (with `cookies:`).
  std::vector<std::string> set_cookies;

  bool failed() const { return kind != fetch_errc{}; }
  bool cancelled() const { return kind == fetch_errc::cancelled; }
  void fail(fetch_errc k, std::string m) {
    kind = k;
    message = std::move(m);
  }
  void fail(fetch_failure f) { fail(f.kind, std::move(f.message)); }
  /// The run is being cancelled: the item ends as `cancelled`.
  void cancel() { fail(fetch_errc::cancelled, std::string(name(fetch_errc::cancelled))); }
};

}  // namespace sluice::stages::http
