// `sluice serve`: runs the built-in HTTP origin in the foreground until
// SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <pthread.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "sluice/stage/options.hpp"
#include "sluice/stages/origin.hpp"

namespace sluice::cli {

namespace {

struct serve_args {
  std::string address = "127.0.0.1";
  int port = 8080;
  bool tls = false;
  std::string cert;
  std::string key;
  unsigned threads = 1;
  std::string idle_timeout = "60s";
  std::uint64_t max_requests = 0;
  std::string write_cert;
  std::uint64_t slow_above = 0;
  std::string slow_delay = "200ms";
  unsigned slow_status = 503;
};

int serve(const serve_args& a) {
  origin_options o;
  o.address = a.address;
  o.port = static_cast<std::uint16_t>(a.port);
  o.tls = a.tls || !a.cert.empty();
  o.cert_file = a.cert;
  o.key_file = a.key;
  o.threads = a.threads;
  o.max_requests_per_connection = a.max_requests;
  auto idle = parse_duration(a.idle_timeout);
  if (!idle) {
    std::cerr << "sluice serve: --idle-timeout: not a duration: " << a.idle_timeout << "\n";
    return 2;
  }
  o.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*idle);
  auto slow = parse_duration(a.slow_delay);
  if (!slow) {
    std::cerr << "sluice serve: --slow-delay: not a duration: " << a.slow_delay << "\n";
    return 2;
  }
  if (a.slow_status != 0 && a.slow_status < 200) {
    std::cerr << "sluice serve: --slow-status: 0 or a status 200 to 599\n";
    return 2;
  }
  o.slow_above = a.slow_above;
  o.slow_delay = std::chrono::duration_cast<std::chrono::milliseconds>(*slow);
  o.slow_status = a.slow_status;
  if (a.cert.empty() != a.key.empty()) {
    std::cerr << "sluice serve: give both --cert and --key, or neither\n";
    return 2;
  }

  // Block the stop signals before the server's threads exist (they inherit
  // the mask), so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<origin_server> server;
  try {
    server = std::make_unique<origin_server>(o);
  } catch (const std::exception& e) {
    std::cerr << fmt::format("sluice serve: cannot start on {}:{}: {}\n", a.address, a.port,
                             e.what());
    return 1;
  }
  if (!a.write_cert.empty()) {
    std::ofstream out(a.write_cert, std::ios::binary | std::ios::trunc);
    out << server->certificate_pem();
    if (!out) {
      std::cerr << "sluice serve: cannot write " << a.write_cert << "\n";
      return 1;
    }
  }
  server->start();
  // The first stdout line is the address alone, so scripts using --port 0
  // can read it.
  std::cout << server->base_url() << std::endl;
  std::cerr << fmt::format("sluice origin serving {} ({} thread{}); Ctrl-C stops\n",
                           server->base_url(), o.threads, o.threads == 1 ? "" : "s");
  int sig = 0;
  sigwait(&stop_signals, &sig);
  server->stop();
  auto c = server->counters();
  std::cerr << fmt::format(
      "sluice origin stopped: {} requests on {} connections, max {} in flight\n", c.requests,
      c.connections_accepted, c.max_in_flight);
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, app_state& state) {
  auto args = std::make_shared<serve_args>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Run the built-in HTTP test origin (/bytes/N, /delay/MS, /status/CODE, ...) until Ctrl-C");
  cmd->footer(
      "Examples:\n"
      "  sluice serve --port 8080         # then: curl http://127.0.0.1:8080/bytes/100\n"
      "  sluice serve --port 0 --tls      # a free port, HTTPS with a self-signed certificate");
  cmd->add_option("--port,-p", args->port,
                  "TCP port (0: a free one; the address is printed on stdout)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--address", args->address, "address to listen on")->capture_default_str();
  cmd->add_flag("--tls", args->tls, "serve HTTPS (a self-signed certificate unless --cert/--key)");
  cmd->add_option("--cert", args->cert, "PEM certificate chain file (implies --tls)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--key", args->key, "PEM private key file")->check(CLI::ExistingFile);
  cmd->add_option("--threads,-t", args->threads, "server threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--idle-timeout", args->idle_timeout,
                  "close keep-alive connections idle this long")
      ->capture_default_str();
  cmd->add_option("--max-requests-per-connection", args->max_requests,
                  "close a connection after this many responses (0: never)")
      ->capture_default_str();
  cmd->add_option("--slow-above", args->slow_above,
                  "overload: serve this many requests at once at full speed, answer one more "
                  "--slow-delay late (0: off)")
      ->capture_default_str();
  cmd->add_option("--slow-delay", args->slow_delay, "how late an overload answer comes")
      ->capture_default_str();
  cmd->add_option("--slow-status", args->slow_status,
                  "status of an overload answer (0: the endpoint's own, only late)")
      ->check(CLI::Range(0, 599))
      ->capture_default_str();
  cmd->add_option("--write-cert", args->write_cert,
                  "with --tls: write the certificate in use (PEM) to FILE");
  cmd->callback([args, &state] { state.exit_code = serve(*args); });
}

}  // namespace sluice::cli
