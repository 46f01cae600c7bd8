// A small Beast HTTP/1.1 server for the http consumer's tests: it runs on
// its own thread on 127.0.0.1 (a free port), optionally over TLS, and counts
// connections and concurrent requests so tests can check pooling and limits.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace sluice::test {

/// Endpoints (all GET):
///   /bytes/N              N bytes of 'x'
///   /status/CODE          that status, empty body
///   /redirect/N           302 to the relative `redirect/N-1`; /redirect/0 is 200 "done"
///   /abs-redirect/N       302 to the absolute URL of /abs-redirect/N-1
///   /loop/a, /loop/b      302 to each other
///   /to?url=U             302 to U
///   /gzip/N, /deflate/N   N bytes of text, compressed with that Content-Encoding
///   /badgzip              Content-Encoding: gzip over bytes that are not gzip
///   /retry-after/K?s=S    429 with `Retry-After: S` on the first hit of key K, then 200
///   /retry-date/K?s=S     the same with an HTTP-date S seconds ahead
///   /flaky/K?n=N          503 for the first N hits of key K, then 200
///   /delay/MS             waits MS before the response header
///   /stall                header (Content-Length 1000) and 10 bytes, then nothing
///   /drip?bytes=N&ms=M    N body bytes, one every M ms
///   /bigheader?n=N        a response header line of N bytes
///   /close                200 with Connection: close
///   /echo                 the request's header block as the body
/// Thread safety: counters are atomics; start/stop from one thread.
class test_server {
 public:
  /// Starts listening. With cert/key files (PEM) it serves HTTPS.
  explicit test_server(std::string cert_file = {}, std::string key_file = {});
  ~test_server();
  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  std::uint16_t port() const;
  /// `http://127.0.0.1:PORT` (or https).
  std::string base() const;

  std::uint64_t connections() const { return connections_.load(); }
  std::uint64_t requests() const { return requests_.load(); }
  std::uint64_t max_concurrent() const { return max_concurrent_.load(); }
  void reset_counters() {
    connections_ = 0;
    requests_ = 0;
    max_concurrent_ = 0;
  }

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::int64_t> concurrent_{0};
  std::atomic<std::uint64_t> max_concurrent_{0};
  friend struct impl;
};

}  // namespace sluice::test
