// `sluice serve` and the `origin:` pipeline section, end to end.
#include <csignal>
#include <fstream>

#include <doctest/doctest.h>

#include "peers.hpp"
#include "sluice/config/config.hpp"
#include "sluice/stage/registry.hpp"
#include "sluice/stages/builtin.hpp"
#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice::test::background_process;
using sluice::test::http_fetch;

TEST_CASE("origin.serve.prints_address_serves_and_stops_on_sigint") {
  background_process p({sluice::test::sluice_bin(), "serve", "--port", "0", "--threads", "2"});
  auto url = p.read_line(10s);
  REQUIRE(url.has_value());
  CHECK(url->starts_with("http://127.0.0.1:"));
  auto r = http_fetch(*url + "/bytes/1000");
  CHECK(r.status == 200);
  CHECK(r.body == sluice::origin_body(1000));
  CHECK(http_fetch(*url + "/status/503").status == 503);
  CHECK(p.signal_and_wait(SIGINT, 10s) == 0);
}

TEST_CASE("origin.serve.tls_with_written_certificate") {
  sluice::test::temp_dir dir;
  auto cert = dir / "origin.pem";
  background_process p(
      {sluice::test::sluice_bin(), "serve", "--port", "0", "--tls", "--write-cert", cert.string()});
  auto url = p.read_line(10s);
  REQUIRE(url.has_value());
  CHECK(url->starts_with("https://127.0.0.1:"));
  sluice::test::http_request_options verify;
  verify.ca_file = cert;
  CHECK(http_fetch(*url + "/item/7", verify).body == "item 7\n");
  CHECK(p.signal_and_wait(SIGTERM, 10s) == 0);
}

TEST_CASE("origin.serve.given_certificate") {
  sluice::test::temp_dir dir;
  auto files = sluice::test::make_tls_files(dir / "tls");
  background_process p({sluice::test::sluice_bin(), "serve", "--port", "0", "--cert",
                        files.server_cert.string(), "--key", files.server_key.string()});
  auto url = p.read_line(10s);
  REQUIRE(url.has_value());
  sluice::test::http_request_options verify;
  verify.ca_file = files.ca_cert;
  CHECK(http_fetch(*url + "/bytes/5", verify).status == 200);
}

TEST_CASE("origin.serve.bad_arguments_exit_2") {
  auto bin = sluice::test::sluice_bin();
  CHECK(sluice::test::run_process({bin, "serve", "--port", "70000"}).exit_code == 2);
  CHECK(sluice::test::run_process({bin, "serve", "--port", "x"}).exit_code == 2);
  CHECK(sluice::test::run_process({bin, "serve", "--cert", "/nonexistent.pem"}).exit_code == 2);
  CHECK(sluice::test::run_process({bin, "serve", "--port", "0", "--idle-timeout", "soon"})
            .exit_code == 2);
}

TEST_CASE("origin.serve.port_in_use_exit_1") {
  sluice::origin_server busy(sluice::origin_options{});
  auto r = sluice::test::run_process(
      {sluice::test::sluice_bin(), "serve", "--port", std::to_string(busy.port())},
      {.timeout = 20s});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot start") != std::string::npos);
}

TEST_CASE("origin.service.variables_and_lifecycle") {
  sluice::registry reg;
  sluice::register_builtin_stages(reg);
  const auto* info = reg.find(sluice::stage_kind::service, "origin");
  REQUIRE(info != nullptr);
  auto loaded = sluice::load_pipeline_text(
      "origin: {port: 0, threads: 2}\n"
      "producers:\n"
      "  - {type: list, urls: [\"${origin}/item/1\"]}\n"
      "consumers: {type: sleep, workers: 1}\n"
      "sinks: [{type: \"null\"}]\n",
      "inline.yaml", reg, {});
  for (const auto& d : loaded.diagnostics) {
    MESSAGE(sluice::format_diagnostic(d));
  }
  REQUIRE(loaded.config.has_value());
  REQUIRE(loaded.config->service_instances.size() == 1);
  auto& svc = *loaded.config->service_instances[0];
  auto vars = svc.variables();
  REQUIRE(vars.count("origin") == 1);
  CHECK(vars["origin"].starts_with("http://127.0.0.1:"));
  CHECK(vars["origin"].ends_with(":" + vars["origin_port"]));
  svc.start();
  CHECK(http_fetch(vars["origin"] + "/item/3").body == "item 3\n");
  svc.stop();
  sluice::test::http_request_options quick;
  quick.timeout = 3s;
  CHECK_THROWS(http_fetch(vars["origin"] + "/item/3", quick));
}

TEST_CASE("origin.service.pipeline_uses_origin_variable") {
  sluice::test::temp_dir dir;
  sluice::test::write_file(dir / "p.yaml",
                           "origin:\n"
                           "  port: 0\n"
                           "producers:\n"
                           "  - type: range\n"
                           "    url: \"${origin}/item/{i}\"\n"
                           "    from: 0\n"
                           "    to: 100\n"
                           "consumers:\n"
                           "  type: sleep\n"
                           "  workers: 4\n"
                           "sinks:\n"
                           "  - type: jsonl\n"
                           "    path: out.jsonl\n");
  auto r = sluice::test::run_process(
      {sluice::test::sluice_bin(), "run", (dir / "p.yaml").string(), "--no-progress"},
      {.timeout = 60s});
  CHECK(r.exit_code == 0);
  auto out = sluice::test::read_file(dir / "out.jsonl");
  CHECK(out.find("http://127.0.0.1:") != std::string::npos);
  CHECK(out.find("${origin}") == std::string::npos);
  CHECK(r.err.find("origin: serving http://127.0.0.1:") != std::string::npos);
}

TEST_CASE("origin.service.config_errors") {
  sluice::test::temp_dir dir;
  sluice::test::write_file(dir / "bad.yaml",
                           "origin:\n"
                           "  prot: 0\n"
                           "  threads: 0\n"
                           "producers:\n"
                           "  - {type: list, urls: [\"${origin}/item/1\"]}\n"
                           "consumers: {type: sleep, workers: 1}\n"
                           "sinks: [{type: \"null\"}]\n");
  auto r =
      sluice::test::run_process({sluice::test::sluice_bin(), "check", (dir / "bad.yaml").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("bad.yaml:2:") != std::string::npos);
  CHECK(r.err.find("port") != std::string::npos);  // did you mean 'port'?
  CHECK(r.err.find("bad.yaml:3:") != std::string::npos);

  sluice::origin_server busy(sluice::origin_options{});
  sluice::test::write_file(dir / "busy.yaml",
                           "origin:\n"
                           "  port: " +
                               std::to_string(busy.port()) +
                               "\n"
                               "producers:\n"
                               "  - {type: list, urls: [\"${origin}/item/1\"]}\n"
                               "consumers: {type: sleep, workers: 1}\n"
                               "sinks: [{type: \"null\"}]\n");
  auto b = sluice::test::run_process(
      {sluice::test::sluice_bin(), "check", (dir / "busy.yaml").string()});
  CHECK(b.exit_code == 2);
  CHECK(b.err.find("busy.yaml:2:") != std::string::npos);
  CHECK(b.err.find("cannot listen") != std::string::npos);
}
