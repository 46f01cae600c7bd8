// The `origin` service: a pipeline's top-level `origin:` section starts the
// built-in HTTP origin beside the pipeline, and `${origin}` expands to its
// address. No Beast here: the server lives behind origin_server's pimpl.
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include <fmt/format.h>
#include <boost/url/parse.hpp>

#include "sluice/core/error.hpp"
#include "sluice/stage/registry.hpp"
#include "sluice/stage/stage.hpp"
#include "sluice/stages/origin.hpp"

namespace sluice {

namespace {

// Binds in the constructor (while the pipeline file loads), so `${origin}`
// carries the real port even for `port: 0`; serves between start and stop.
class origin_service final : public service {
 public:
  explicit origin_service(const stage_context& ctx) : ctx_(ctx) {
    const options& o = ctx.opts;
    origin_options so;
    so.address = o.get_string("address");
    so.port = static_cast<std::uint16_t>(o.get_int("port"));
    so.tls = o.get_bool("tls");
    if (o.has("cert")) {
      so.cert_file = ctx.resolve(o.get_string("cert")).string();
    }
    if (o.has("key")) {
      so.key_file = ctx.resolve(o.get_string("key")).string();
    }
    if (so.cert_file.empty() != so.key_file.empty()) {
      throw config_error(so.cert_file.empty() ? "cert" : "key",
                         "origin: give both `cert` and `key`, or neither");
    }
    if (!so.cert_file.empty()) {
      so.tls = true;
    }
    so.threads = static_cast<unsigned>(o.get_int("threads"));
    so.idle_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(o.get_duration("idle_timeout"));
    so.max_requests_per_connection =
        static_cast<std::uint64_t>(o.get_int("max_requests_per_connection"));
    if (o.has("robots")) {
      so.robots_txt = o.get_string("robots");
    }
    if (o.has("robots_path")) {
      so.robots_path = o.get_string("robots_path");
    }
    if (!so.robots_path.empty() && !boost::urls::parse_origin_form(so.robots_path)) {
      throw config_error("robots_path", "origin: robots_path '" + so.robots_path +
                                            "' is not a path like /status/503");
    }
    so.slow_above = static_cast<std::uint64_t>(o.get_int("slow_above"));
    so.slow_delay =
        std::chrono::duration_cast<std::chrono::milliseconds>(o.get_duration("slow_delay"));
    so.slow_status = static_cast<unsigned>(o.get_int("slow_status"));
    if (so.slow_status != 0 && so.slow_status < 200) {
      throw config_error("slow_status", "origin: slow_status must be 0 or a status 200 to 599");
    }
    try {
      server_ = std::make_unique<origin_server>(so);
    } catch (const std::system_error& e) {
      throw config_error("port", fmt::format("origin: cannot listen on {}:{}: {}", so.address,
                                             so.port, e.code().message()));
    } catch (const std::exception& e) {
      throw config_error(so.cert_file.empty() ? "" : "cert", fmt::format("origin: {}", e.what()));
    }
  }

  std::map<std::string, std::string> variables() const override {
    return {{"origin", server_->base_url()}, {"origin_port", std::to_string(server_->port())}};
  }

  void start() override {
    server_->start();
    ctx_.log(log_level::info, fmt::format("serving {}", server_->base_url()));
  }

  void stop() override {
    server_->stop();
    auto c = server_->counters();
    ctx_.log(log_level::info,
             fmt::format("stopped: {} requests on {} connections, max {} in flight", c.requests,
                         c.connections_accepted, c.max_in_flight));
  }

 private:
  stage_context ctx_;
  std::unique_ptr<origin_server> server_;
};

}  // namespace

void register_origin_stages(registry& reg) {
  const origin_options d{};
  reg.add(stage_entry<origin_service>(
      "origin",
      "the built-in HTTP test origin (/bytes/N, /delay/MS, /status/CODE, /redirect/N, ...); "
      "`${origin}` expands to its address",
      {
          make_option("address", option_type::string, default_of(d.address),
                      "address to listen on"),
          bounded_option(make_option("port", option_type::integer, default_of(d.port),
                                     "TCP port; 0 picks a free one"),
                         0, 65535),
          make_option(
              "tls", option_type::boolean, default_of(d.tls),
              "serve HTTPS (a self-signed certificate for localhost/127.0.0.1 unless cert/key are "
              "given)"),
          make_option("cert", option_type::string, d.cert_file,
                      "PEM certificate chain file (implies tls)"),
          make_option("key", option_type::string, d.key_file, "PEM private key file"),
          bounded_option(make_option("threads", option_type::integer, default_of(d.threads),
                                     "server threads (its own io_context)"),
                         1, 256),
          make_option("idle_timeout", option_type::duration, default_of(d.idle_timeout),
                      "close keep-alive connections idle this long"),
          bounded_option(make_option("max_requests_per_connection", option_type::integer,
                                     default_of(d.max_requests_per_connection),
                                     "close a keep-alive connection after this many responses (0: "
                                     "never)"),
                         0),
          make_option("robots", option_type::string, "",
                      "the body of /robots.txt (200, text/plain); not set: /robots.txt is 404 "
                      "(or robots_path)"),
          make_option("robots_path", option_type::string, d.robots_path,
                      "answer /robots.txt as this target would be (`/status/503`, `/delay/5000`, "
                      "`/redirect-loop`, `/hostile/reset-at-once`)"),
          bounded_option(make_option("slow_above", option_type::integer, default_of(d.slow_above),
                                     "overload: serve this many requests at once at full speed; "
                                     "one more is answered `slow_delay` late (0: off)"),
                         0),
          bounded_option(make_option("slow_delay", option_type::duration, default_of(d.slow_delay),
                                     "how late an overload answer comes"),
                         0, 600000),
          bounded_option(make_option("slow_status", option_type::integer, default_of(d.slow_status),
                                     "the status of an overload answer (0: the endpoint's own "
                                     "answer, only late)"),
                         0, 599),
      }));
}

}  // namespace sluice
