// The http consumer's requests (see request.hpp).
#include "request.hpp"

#include <algorithm>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "sluice/core/base64.hpp"

namespace sluice::stages::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using error_code = boost::system::error_code;

namespace {

/// Request fields that carry credentials: never sent to another origin after
/// a redirect unless the user trusts redirects.
bool is_credential_field(std::string_view name) {
  return beast::iequals(name, "authorization") || beast::iequals(name, "cookie") ||
         beast::iequals(name, "proxy-authorization");
}

/// The request as it goes on the wire (Beast's serializer, run once).
std::string serialize(const bhttp::request<bhttp::string_body>& req) {
  std::string out;
  out.reserve(256 + req.body().size());
  bhttp::request_serializer<bhttp::string_body> sr{req};
  error_code ec;
  while (!sr.is_done() && !ec) {
    sr.next(ec, [&](error_code&, const auto& buffers) {
      for (auto b : beast::buffers_range_ref(buffers)) {
        out.append(static_cast<const char*>(b.data()), b.size());
      }
      sr.consume(beast::buffer_bytes(buffers));
    });
  }
  return out;
}

}  // namespace

std::vector<request_template> request_template::for_rules(const config& cfg) {
  std::vector<request_template> out;
  for (const auto& rule : cfg.hosts) {
    out.emplace_back(rule.cfg ? *rule.cfg : cfg);
  }
  return out;
}

bool request_template::user_sets(const config& cfg, std::string_view name) {
  return std::any_of(cfg.headers.begin(), cfg.headers.end(),
                     [&](auto& h) { return beast::iequals(h.first, name); });
}

request_template::request_template(const config& cfg)
    : cfg_(cfg),
      authorization_(cfg.basic_auth.empty() ? "" : "Basic " + base64_encode(cfg.basic_auth)),
      host_overridden_(user_sets(cfg, "host")) {
  for (int with_body = 0; with_body < 2; ++with_body) {
    for (int foreign = 0; foreign < 2; ++foreign) {
      tails_[with_body][foreign] = tail(cfg, with_body != 0, foreign != 0);
    }
  }
}

/// The configured fields (and body) of a request, serialized by Beast.
std::string request_template::tail(const config& cfg, bool with_body, bool foreign) const {
  bool credentials = !foreign || cfg.redirect_trusted;
  bhttp::request<bhttp::string_body> req;
  req.version(11);
  req.method_string(with_body ? cfg.method : "GET");
  req.target("/");
  if (!user_sets(cfg, "user-agent") && !cfg.user_agent.empty()) {
    req.set(bhttp::field::user_agent, cfg.user_agent);
  }
  if (cfg.decompress && !user_sets(cfg, "accept-encoding")) {
    req.set(bhttp::field::accept_encoding, "gzip, deflate, br");
  }
  if (!authorization_.empty() && credentials) {
    req.set(bhttp::field::authorization, authorization_);
  }
  for (auto& [k, v] : cfg.headers) {
    if (credentials || !is_credential_field(k)) {
      req.set(k, v);
    }
  }
  if (with_body && !cfg.body.empty()) {
    req.body() = cfg.body;
    req.prepare_payload();
  }
  std::string wire = serialize(req);
  return wire.substr(wire.find("\r\n") + 2);
}

std::string request_template::build(const target& t, std::string_view method, bool with_body,
                                    bool foreign) const {
  const std::string& tail = tails_[with_body][foreign];
  std::string out;
  out.reserve(method.size() + t.path.size() + t.host_header.size() + tail.size() + 26);
  out.append(method).append(" ");
  if (t.path.empty() || t.path.front() != '/') {
    out.push_back('/');  // "http://h" and "http://h?q" have no path: "/", "/?q"
  }
  out.append(t.path).append(" HTTP/1.1\r\n");
  if (!host_overridden_) {
    out.append("Host: ").append(t.host_header).append("\r\n");
  }
  out.append(tail);
  return out;
}

std::string request_template::build_for(const target& t, std::string_view method, bool with_body,
                                        bool foreign, const request_spec& spec,
                                        std::uint64_t file_size) const {
  const bool credentials = !foreign || cfg_.redirect_trusted;
  auto item_sets = [&](std::string_view field) {
    return std::any_of(spec.headers.begin(), spec.headers.end(),
                       [&](auto& h) { return beast::iequals(h.first, field); });
  };
  bhttp::request<bhttp::string_body> req;
  req.version(11);
  req.method_string(method);
  std::string path(t.path);
  if (path.empty() || path.front() != '/') {
    path.insert(path.begin(), '/');  // "http://h" and "http://h?q": "/", "/?q"
  }
  req.target(path);
  if (!host_overridden_ && !item_sets("host")) {
    req.set(bhttp::field::host, t.host_header);
  }
  if (!user_sets(cfg_, "user-agent") && !item_sets("user-agent") && !cfg_.user_agent.empty()) {
    req.set(bhttp::field::user_agent, cfg_.user_agent);
  }
  if (cfg_.decompress && !user_sets(cfg_, "accept-encoding") && !item_sets("accept-encoding")) {
    req.set(bhttp::field::accept_encoding, "gzip, deflate, br");
  }
  if (!authorization_.empty() && credentials && !item_sets("authorization")) {
    req.set(bhttp::field::authorization, authorization_);
  }
  for (auto& [k, v] : cfg_.headers) {
    if ((credentials || !is_credential_field(k)) && !item_sets(k)) {
      req.set(k, v);
    }
  }
  // The record's fields: insert, so that a name given twice is sent twice.
  for (auto& [k, v] : spec.headers) {
    if (credentials || !is_credential_field(k)) {
      req.insert(k, v);
    }
  }
  if (with_body && !spec.body_file.empty()) {
    req.content_length(file_size);  // the body follows, streamed from the file
  } else if (with_body && (spec.body ? !spec.body->empty() : !cfg_.body.empty())) {
    req.body() = spec.body ? *spec.body : cfg_.body;
    req.prepare_payload();
  }
  return serialize(req);
}

}  // namespace sluice::stages::http
