// The units of work that flow through a pipeline: an item (what a producer
// emits and a consumer takes) and a result (what a consumer hands to sinks).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice {

using clock = std::chrono::steady_clock;

/// The parts of a request beyond its URL, for producers that read requests
/// as data (`jsonl`, `csv`): per-item overrides of the consumer's method,
/// headers and body, a body streamed from a file, and `meta`, which is
/// carried untouched into the result and every sink (Scrapy's `meta`).
/// A record the producer could not turn into a request has `error_kind` set
/// (`bad_record`, `bad_url`): the runtime then fails the item with that kind
/// and `error_message` without calling the consumer.
/// Thread safety: immutable once the producer emitted it; shared read-only by
/// the item, its result and the sinks.
struct request_spec {
  std::string method;  ///< empty: the consumer's `method`
  /// Extra request fields; one named like a configured header replaces it.
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> body;  ///< set: replaces the consumer's `body`
  std::string body_file;            ///< absolute path of a body streamed from disk
  std::string meta;                 ///< a JSON object as serialized text; empty: none
  std::string source;               ///< where the record came from: `file:line`
  std::string error_kind;           ///< non-empty: the record is bad (see above)
  std::string error_message;

  /// True when the record overrides any part of the request itself.
  bool overrides_request() const noexcept {
    return !method.empty() || !headers.empty() || body.has_value() || !body_file.empty();
  }
};

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
  /// The request beyond its URL, or null (a plain URL: no allocation, one
  /// pointer copied). Shared, not owned: the result carries the same spec
  /// to the sinks without copying `meta`. Since stage ABI 4.
  std::shared_ptr<const request_spec> request;
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
  /// The item's request_spec (meta, per-item method...), or null. Set by the
  /// runtime from the item when the consumer left it null. Since stage ABI 4.
  std::shared_ptr<const request_spec> request;

  /// True when the item did not fail.
  bool ok() const noexcept { return error_kind.empty(); }
};

}  // namespace sluice
