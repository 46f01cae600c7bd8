// The Prometheus endpoint of `sluice run` (docs/metrics.md), end to end: a
// real Prometheus scrapes a run against the built-in origin and its query
// API must show the run's figures (the last scrape, during `linger`, equal
// to --stats-json); promtool accepts the exposition; hostile clients (a
// silent one, a huge request, many at once) neither block the run nor other
// scrapes; the run exits promptly with scrapes in flight; a port in use or a
// malformed address is exit 2 before any fetch; every series is documented.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <regex>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "peers.hpp"
#include "test_support.hpp"

using namespace sluice::test;
namespace json = boost::json;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// `count` URLs of the origin's /delay/MS through `workers` http workers,
/// a queue of `capacity`, the endpoint on an ephemeral port; some items
/// fail (a 404, a 503 retried once, a refused connection).
std::string slow_pipeline(int count, int ms, int workers, int capacity, const char* linger) {
  return "name: metrics-test\n"
         "metrics: {listen: \"127.0.0.1:0\", linger: " +
         std::string(linger) +
         "}\n"
         "origin: {port: 0}\n"
         "max_failed: 10\n"
         "producers:\n"
         "  - {type: range, url: \"${origin}/delay/" +
         std::to_string(ms) + "?i={i}\", to: " + std::to_string(count) +
         "}\n"
         "  - {type: list, urls: [\"${origin}/status/404\", \"${origin}/status/503\", "
         "\"http://127.0.0.1:1/refused\"]}\n"
         "queue: {capacity: " +
         std::to_string(capacity) +
         "}\n"
         "consumers: {type: http, workers: " +
         std::to_string(workers) +
         ", per_host: 100, retry: {attempts: 2, backoff_base: 10ms}}\n"
         "sinks: [{type: null}]\n";
}

struct started_run {
  child_process child;
  std::string url;  ///< http://127.0.0.1:PORT/metrics
  std::uint16_t port = 0;
};

started_run start_run(const temp_dir& d, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{
      sluice_bin(),    "run",          (d / "p.yaml").string(),    "--no-state",
      "--no-progress", "--stats-json", (d / "stats.json").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  started_run r;
  r.child = spawn_process(argv, d / "stdout", d / "stderr");
  static const std::regex at(R"(sluice: metrics at (http://127\.0\.0\.1:(\d+)/metrics))");
  for (int i = 0; i < 1000 && r.url.empty(); ++i) {
    std::smatch m;
    auto err = read_file(d / "stderr");
    if (std::regex_search(err, m, at)) {
      r.url = m[1];
      r.port = static_cast<std::uint16_t>(std::stoi(m[2]));
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
  REQUIRE_MESSAGE(!r.url.empty(), read_file(d / "stderr"));
  return r;
}

/// A port that was free a moment ago (bound to 0, then closed).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// A raw TCP connection to 127.0.0.1:port with a receive timeout.
int connect_to(std::uint16_t port, std::chrono::seconds rcv_timeout = 10s) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  timeval tv{static_cast<time_t>(rcv_timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/// Everything the peer sends until it closes (or the receive timeout).
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      return out;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

/// One sample's value from a Prometheus text exposition ("" when absent).
std::string sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) {
    return "";
  }
  auto start = at + series.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

std::uint64_t num(const json::object& o, const char* key) {
  return o.at(key).to_number<std::uint64_t>();
}

/// The value of an instant query's single result (nullopt: no result).
std::optional<double> query(std::uint16_t prom_port, const std::string& promql) {
  auto u = boost::urls::parse_uri("http://127.0.0.1/api/v1/query").value();
  boost::urls::url url(u);
  url.set_port_number(prom_port);
  url.params().set("query", promql);
  auto r = http_fetch(std::string(url.buffer()));
  REQUIRE(r.status == 200);
  auto v = json::parse(r.body).as_object();
  const auto& result = v.at("data").at("result").as_array();
  if (result.empty()) {
    return std::nullopt;
  }
  return std::stod(std::string(result.at(0).at("value").as_array().at(1).as_string()));
}

/// A real Prometheus scraping `target` every second, on a free port.
struct prometheus_server {
  prometheus_server(const temp_dir& d, std::uint16_t target_port) : port(free_port()) {
    write_file(d / "prometheus.yml",
               "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
               "scrape_configs:\n"
               "  - job_name: sluice\n"
               "    static_configs: [{targets: ['127.0.0.1:" +
                   std::to_string(target_port) + "']}]\n");
    child =
        spawn_process({"/usr/bin/prometheus", "--config.file=" + (d / "prometheus.yml").string(),
                       "--web.listen-address=127.0.0.1:" + std::to_string(port),
                       "--storage.tsdb.path=" + (d / "tsdb").string()},
                      d / "prom.out", d / "prom.err");
    for (int i = 0; i < 300; ++i) {
      try {
        if (http_fetch("http://127.0.0.1:" + std::to_string(port) + "/-/ready").status == 200) {
          ready = true;
          return;
        }
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  ~prometheus_server() {
    ::kill(child.pid, SIGTERM);
    wait_process(child, 10s);
  }
  std::uint16_t port;
  child_process child;
  bool ready = false;
};

}  // namespace

TEST_CASE("http.metrics.prometheus_scrapes_a_run_and_its_last_scrape_matches_the_report") {
  temp_dir d;
  // 60 items of 300 ms on 4 workers: about 4.5 s, then 3 s of linger.
  write_file(d / "p.yaml", slow_pipeline(60, 300, 4, 37, "3s"));
  // Prometheus first, on the port the run will use (--metrics overrides
  // the file's port 0), and only once it has tried a scrape: it takes
  // seconds to start scraping, longer than some runs last.
  auto port = free_port();
  prometheus_server prom(d, port);
  REQUIRE_MESSAGE(prom.ready, read_file(d / "prom.err"));
  for (int i = 0; i < 300 && !query(prom.port, "up").has_value(); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(query(prom.port, "up") == 0.0);
  auto run = start_run(d, {"--metrics", "127.0.0.1:" + std::to_string(port)});
  REQUIRE(run.port == port);

  // A direct scrape mid-run: promtool finds nothing to lint.
  auto text = http_fetch(run.url);
  REQUIRE(text.status == 200);
  CHECK(text.header("content-type").find("text/plain; version=0.0.4") == 0);
  process_options po;
  po.input = text.body;
  auto lint = run_process({"promtool", "check", "metrics"}, po);
  INFO(text.body);
  CHECK_MESSAGE(lint.exit_code == 0, (lint.out + lint.err));
  CHECK(lint.out.empty());
  CHECK(sample(text.body, "sluice_queue_capacity_items") == "37");
  CHECK(sample(text.body, "sluice_workers") == "4");

  auto r = wait_process(run.child, 60s);
  INFO(read_file(d / "stderr"));
  REQUIRE(r.exit_code == 0);
  auto stats = json::parse(read_file(d / "stats.json")).as_object();
  std::this_thread::sleep_for(1s);  // Prometheus' scrape of the last second lands

  INFO(read_file(d / "prom.err"));
  // Scraped while running: some items in flight at some point, with the
  // queue holding some (63 items, 4 workers).
  CHECK(query(prom.port, "max_over_time(sluice_items_in_flight[5m])").value_or(0) == 4);
  CHECK(query(prom.port, "max_over_time(sluice_queue_items[5m])").value_or(0) > 0);
  CHECK(query(prom.port, "min_over_time(sluice_items_done_total[5m])").value_or(-1) <
        static_cast<double>(num(stats, "consumed")));
  // The last scrape (during linger) equals the report (last_over_time:
  // the series went stale when the run ended).
  CHECK(query(prom.port, "last_over_time(sluice_queue_capacity_items[5m])") == 37.0);
  CHECK(query(prom.port, "last_over_time(sluice_items_produced_total[5m])") ==
        static_cast<double>(num(stats, "produced")));
  CHECK(query(prom.port, "last_over_time(sluice_items_done_total[5m])") ==
        static_cast<double>(num(stats, "consumed")));
  CHECK(num(stats, "consumed") == 63);
  CHECK(query(prom.port, "sum(last_over_time(sluice_items_failed_total[5m]))") ==
        static_cast<double>(num(stats, "failed")));
  CHECK(query(prom.port, "last_over_time(sluice_items_failed_total{kind=\"connect\"}[5m])") == 1.0);
  CHECK(query(prom.port, "last_over_time(sluice_http_responses_total{class=\"2xx\"}[5m])") ==
        static_cast<double>(stats.at("status_classes").at("2xx").to_number<std::uint64_t>()));
  CHECK(query(prom.port, "last_over_time(sluice_retries_total[5m])") ==
        static_cast<double>(num(stats, "retries")));
  CHECK(query(prom.port, "last_over_time(sluice_body_bytes_total[5m])") ==
        static_cast<double>(num(stats, "bytes")));
  CHECK(query(prom.port, "last_over_time(sluice_item_duration_seconds_count[5m])") ==
        static_cast<double>(num(stats, "consumed")));
  CHECK(query(prom.port, "last_over_time(sluice_items_in_flight[5m])") == 0.0);
  // Every item took at least 300 ms but the three failing ones: the
  // buckets below 0.25 s hold at most those, the sum at least 60 x 0.3 s.
  CHECK(query(prom.port, "last_over_time(sluice_item_duration_seconds_bucket{le=\"0.25\"}[5m])")
            .value_or(99) <= 3);
  CHECK(query(prom.port, "last_over_time(sluice_item_duration_seconds_sum[5m])").value_or(0) >=
        18.0);
  CHECK(query(prom.port, "sum(last_over_time(sluice_host_requests[5m]))") ==
        static_cast<double>(num(stats, "consumed")));
  CHECK(query(prom.port, "last_over_time(sluice_host_requests{host=\"other\"}[5m])") == 0.0);
  CHECK(query(prom.port, "count(last_over_time(sluice_host_requests[5m]))") ==
        3.0);  // origin, 127.0.0.1:1, other
  CHECK(query(prom.port, "last_over_time(sluice_items_done_total[5m])").has_value());
}

TEST_CASE("http.metrics.hostile_clients_neither_block_the_run_nor_other_scrapes") {
  temp_dir d;
  write_file(d / "p.yaml", slow_pipeline(100, 300, 4, 200, "0s"));  // about 7.5 s
  auto run = start_run(d);

  // Silent clients: connected, never sending.
  std::vector<int> silent;
  for (int i = 0; i < 10; ++i) {
    silent.push_back(connect_to(run.port));
  }
  // A huge request line and a huge header: 431, then the connection closes.
  for (const std::string& req :
       {"GET /" + std::string(100000, 'a') + " HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(100000, 'b') + "\r\n\r\n"}) {
    int fd = connect_to(run.port);
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    auto reply = read_all(fd);
    ::close(fd);
    CHECK(reply.rfind("HTTP/1.1 431", 0) == 0);
  }
  // Garbage: 400.
  {
    int fd = connect_to(run.port);
    std::string junk = "\x16\x03\x01 not http\r\n\r\n";
    ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    auto reply = read_all(fd);
    ::close(fd);
    CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
  }
  // Other paths and methods.
  CHECK(http_fetch(run.url.substr(0, run.url.size() - 8) + "/").status == 404);
  CHECK(http_fetch(run.url + "x").status == 404);
  http_request_options post;
  post.method = "POST";
  auto p = http_fetch(run.url, post);
  CHECK(p.status == 405);
  CHECK(p.header("allow") == "GET");
  CHECK(http_fetch(run.url + "?x=1").status == 200);

  // 24 concurrent scrapes while the silent ones hold their connections.
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 24; ++i) {
    threads.emplace_back([&] {
      try {
        auto r = http_fetch(run.url);
        if (r.status == 200 && r.body.find("sluice_items_done_total") != std::string::npos) {
          ++ok;
        }
      } catch (const std::exception&) {
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(ok == 24);
  // A keep-alive connection serves scrape after scrape, as Prometheus uses it.
  http_connection conn("127.0.0.1", run.port);
  for (int i = 0; i < 3; ++i) {
    CHECK(conn.request("/metrics").status == 200);
  }
  CHECK(conn.connects() == 1);

  // The server drops a silent client after its request deadline (5 s).
  auto t0 = clock_type::now();
  CHECK(read_all(silent.back()).empty());
  CHECK(clock_type::now() - t0 < 9s);
  ::close(silent.back());
  silent.pop_back();

  // Fresh silent ones are open when the run ends: it exits anyway, and the
  // listener is closed after.
  for (int i = 0; i < 3; ++i) {
    silent.push_back(connect_to(run.port));
  }
  auto r = wait_process(run.child, 60s);
  INFO(read_file(d / "stderr"));
  CHECK(r.exit_code == 0);
  for (int fd : silent) {
    ::close(fd);
  }
  CHECK_THROWS(http_fetch(run.url));
  auto stats = json::parse(read_file(d / "stats.json")).as_object();
  CHECK(num(stats, "consumed") == 103);
}

TEST_CASE("http.metrics.a_signal_ends_the_run_promptly_with_scrapes_in_flight") {
  temp_dir d;
  // 2,000 items of 500 ms on 8 workers and a long linger: only the signal ends this soon.
  write_file(d / "p.yaml", slow_pipeline(2000, 500, 8, 1000, "60s"));
  auto run = start_run(d);
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::vector<std::thread> scrapers;
  for (int i = 0; i < 4; ++i) {
    scrapers.emplace_back([&] {
      while (!done) {
        try {
          if (http_fetch(run.url).status == 200) {
            ++scrapes;
          }
        } catch (const std::exception&) {
          std::this_thread::sleep_for(10ms);
        }
      }
    });
  }
  std::this_thread::sleep_for(1500ms);
  auto signalled = clock_type::now();
  ::kill(run.child.pid, SIGINT);
  auto r = wait_process(run.child, 60s);
  auto took = clock_type::now() - signalled;
  done = true;
  for (auto& t : scrapers) {
    t.join();
  }
  INFO(read_file(d / "stderr"));
  CHECK(r.exit_code == 130);
  CHECK(scrapes > 0);
  // In-flight items need up to 500 ms; no linger after a signal.
  CHECK(took < 5s);
}

TEST_CASE("http.metrics.a_signal_during_linger_ends_it_and_keeps_the_exit_code") {
  temp_dir d;
  write_file(d / "p.yaml", slow_pipeline(4, 10, 4, 10, "60s"));
  auto run = start_run(d);
  // The run is over in well under a second; then it lingers.
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text = http_fetch(run.url).body;
    if (sample(text, "sluice_items_done_total") == "7") {
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  CHECK(sample(text, "sluice_items_done_total") == "7");
  auto signalled = clock_type::now();
  ::kill(run.child.pid, SIGTERM);
  auto r = wait_process(run.child, 30s);
  INFO(read_file(d / "stderr"));
  CHECK(clock_type::now() - signalled < 3s);
  CHECK(r.exit_code == 0);  // max_failed: 10 allows the three failures
}

TEST_CASE("http.metrics.a_port_in_use_or_a_bad_address_is_exit_2_before_any_fetch") {
  temp_dir d;
  write_file(d / "p.yaml", slow_pipeline(5, 10, 1, 10, "0s"));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto busy = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto r = run_process({sluice_bin(), "run", (d / "p.yaml").string(), "--no-state", "--metrics",
                        busy, "--stats-json", (d / "stats.json").string()});
  ::close(fd);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("cannot listen on " + busy + ": Address already in use") != std::string::npos);
  CHECK(r.err.find("origin: serving") == std::string::npos);  // nothing started
  CHECK(r.out.empty());

  SUBCASE("the flag") {
    for (const char* bad : {"example.com:80", "127.0.0.1", "127.0.0.1:65536", "1.2.3:4", ":80"}) {
      auto b = run_process(
          {sluice_bin(), "run", (d / "p.yaml").string(), "--no-state", "--metrics", bad});
      INFO(bad << ": " << b.err);
      CHECK(b.exit_code == 2);
      CHECK(b.err.find("is not IP:PORT") != std::string::npos);
    }
  }
  SUBCASE("the file") {
    write_file(d / "bad.yaml",
               "name: bad\nmetrics:\n  listen: 127.0.0.1:99999\n"
               "producers: [{type: list, urls: [a]}]\n"
               "consumers: {type: sleep}\nsinks: [{type: null}]\n");
    auto b = run_process({sluice_bin(), "check", (d / "bad.yaml").string()});
    CHECK(b.exit_code == 2);
    CHECK(b.err.find("bad.yaml:3:11: error: '127.0.0.1:99999' is not IP:PORT") !=
          std::string::npos);
    write_file(d / "bad2.yaml",
               "name: bad\nmetrics: 9464\n"
               "producers: [{type: list, urls: [a]}]\n"
               "consumers: {type: sleep}\nsinks: [{type: null}]\n");
    b = run_process({sluice_bin(), "check", (d / "bad2.yaml").string()});
    CHECK(b.exit_code == 2);
    CHECK(b.err.find("bad2.yaml:2:10: error: 'metrics' must be a mapping") != std::string::npos);
  }
}

TEST_CASE("http.metrics.every_series_served_is_in_docs_metrics_md") {
  temp_dir d;
  write_file(d / "p.yaml", slow_pipeline(5, 10, 2, 10, "30s"));
  auto run = start_run(d);
  auto text = http_fetch(run.url).body;
  ::kill(run.child.pid, SIGTERM);
  wait_process(run.child, 30s);
  const char* src = std::getenv("SLUICE_SOURCE_DIR");
  REQUIRE(src != nullptr);
  auto doc = read_file(std::filesystem::path(src) / "docs" / "metrics.md");
  REQUIRE(!doc.empty());
  static const std::regex type_line(R"(# TYPE (\S+) (\S+))");
  std::set<std::string> names;
  for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it) {
    names.insert((*it)[1]);
    INFO((*it)[1]);
    CHECK(doc.find("`" + std::string((*it)[1]) + "`") != std::string::npos);
  }
  CHECK(names.size() >= 15);
}
