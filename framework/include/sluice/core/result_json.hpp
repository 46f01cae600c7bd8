// The JSON form of a result, shared by every sink that writes JSON.
#pragma once

#include <boost/json/object.hpp>

#include "sluice/core/item.hpp"

namespace sluice {

/// Converts a result to a JSON object: url, final_url, index, producer,
/// worker, ok, status, error_kind, error_message, bytes, attempts, redirects,
/// content_type, headers, body_file and timings in milliseconds
/// (queue_ms, dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms). The body itself
/// is included (as `body`, text) only when `include_body` is true.
/// Thread safety: pure function.
boost::json::object result_to_json(const result& r, bool include_body = false);

}  // namespace sluice
