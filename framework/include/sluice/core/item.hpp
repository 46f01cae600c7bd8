// The units of work that flow through a pipeline: an item (what a producer
// emits and a consumer takes) and a result (what a consumer hands to sinks).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sluice {

using clock = std::chrono::steady_clock;

/// One unit of work: normally a URL to fetch.
/// `index` is the producer's own sequence number (the `{i}` of a range);
/// `producer` is the index of the producer stage that emitted it;
/// `enqueued_at` is stamped by the framework when the item enters the queue.
/// Thread safety: a plain value; owned by one stage at a time.
struct item {
  std::string url;
  std::uint64_t index = 0;
  std::uint32_t producer = 0;
  clock::time_point enqueued_at{};
  /// Where the producer resumes after this item, for producers that resume
  /// by position (file: the byte offset of the next line); 0 for producers
  /// that resume by count (range, list). See producer::skip_to.
  std::uint64_t resume_offset = 0;
  /// Set by the runtime: the item's ordinal among its producer's items (0,
  /// 1, 2, ...), which the state of a resumable run counts by.
  std::uint64_t seq = 0;
};

/// Hook called by bounded_queue when an item enters the queue (found by ADL),
/// so time in queue excludes any time the producer waited for a free slot.
inline void queue_on_enqueue(item& i) noexcept {
  i.enqueued_at = clock::now();
}

/// Timings of one item, in nanoseconds; zero when a phase did not happen.
/// Thread safety: a plain value.
struct timings {
  std::chrono::nanoseconds queue{0};    ///< time the item sat in the queue
  std::chrono::nanoseconds dns{0};      ///< name resolution (cache hits are 0)
  std::chrono::nanoseconds connect{0};  ///< TCP connect
  std::chrono::nanoseconds tls{0};      ///< TLS handshake
  std::chrono::nanoseconds ttfb{0};     ///< request written until first response byte
  std::chrono::nanoseconds total{0};    ///< the consumer's whole processing of the item
};

/// What a consumer made of one item. Per-item failures are data: `error_kind`
/// is non-empty (a name of the fetch_errc table in fetch_error.hpp, such as
/// `timeout_connect`; `error_class_of` gives its class, such as `timeout`) and
/// `error_message` says what happened; nothing is thrown.
/// Bodies are either in `body` or, when large, in the temporary file
/// `body_file`, which a sink may move away (rename) and otherwise is removed
/// when the pipeline ends.
/// Thread safety: a plain value; shared read-only between sinks once emitted.
struct result {
  std::string url;
  std::string final_url;
  std::uint64_t index = 0;
  std::uint32_t producer = 0;
  std::uint32_t worker = 0;
  int status = 0;               ///< HTTP status, 0 when no response
  std::uint32_t attempts = 0;   ///< attempts made (1 without retries)
  std::uint32_t redirects = 0;  ///< redirect hops followed
  std::uint64_t bytes = 0;      ///< body bytes received (after decoding)
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  ///< selected headers
  std::string body;                                          ///< body, when kept in memory
  std::string body_file;   ///< path of a temporary file holding the body, when streamed
  std::string error_kind;  ///< empty on success
  std::string error_message;
  timings time;
  clock::time_point enqueued_at{};
  clock::time_point started_at{};
  clock::time_point finished_at{};

  /// True when the item did not fail.
  bool ok() const noexcept { return error_kind.empty(); }
};

}  // namespace sluice
