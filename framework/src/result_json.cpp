#include "sluice/core/result_json.hpp"

#include <boost/json.hpp>

namespace sluice {

boost::json::object result_to_json(const result& r, bool include_body) {
  auto ms = [](std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; };
  boost::json::object o;
  o.reserve(24);
  o["url"] = r.url;
  if (!r.final_url.empty() && r.final_url != r.url) {
    o["final_url"] = r.final_url;
  }
  o["index"] = r.index;
  o["producer"] = r.producer;
  o["worker"] = r.worker;
  o["ok"] = r.ok();
  if (r.status != 0) {
    o["status"] = r.status;
  }
  if (!r.ok()) {
    o["error_kind"] = r.error_kind;
    o["error_message"] = r.error_message;
  }
  o["bytes"] = r.bytes;
  if (r.attempts != 0) {
    o["attempts"] = r.attempts;
  }
  if (r.redirects != 0) {
    o["redirects"] = r.redirects;
  }
  if (!r.content_type.empty()) {
    o["content_type"] = r.content_type;
  }
  if (!r.headers.empty()) {
    boost::json::object h;
    for (const auto& [k, v] : r.headers) {
      h[k] = v;
    }
    o["headers"] = std::move(h);
  }
  if (!r.body_file.empty()) {
    o["body_file"] = r.body_file;
  }
  if (include_body && r.body_file.empty()) {
    o["body"] = r.body;
  }
  o["queue_ms"] = ms(r.time.queue);
  if (r.time.dns.count()) {
    o["dns_ms"] = ms(r.time.dns);
  }
  if (r.time.connect.count()) {
    o["connect_ms"] = ms(r.time.connect);
  }
  if (r.time.tls.count()) {
    o["tls_ms"] = ms(r.time.tls);
  }
  if (r.time.ttfb.count()) {
    o["ttfb_ms"] = ms(r.time.ttfb);
  }
  o["total_ms"] = ms(r.time.total);
  return o;
}

}  // namespace sluice
