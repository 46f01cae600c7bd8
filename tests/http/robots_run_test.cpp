// `robots: obey` end to end: `sluice run` against the built-in origin
// (serving a robots.txt of the test's choosing, or answering /robots.txt as
// a hostile endpoint would), nginx (a robots.txt in its document root) and
// httpbin (its own /robots.txt). The servers' request counts show that
// robots.txt is fetched once per origin, however many workers start at once,
// and that disallowed URLs are never requested.
#include <doctest/doctest.h>

#include <map>

#include <boost/json.hpp>

#include "peers.hpp"
#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

using namespace sluice::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct run_outcome {
  process_result run;
  std::map<std::string, std::string> kind_of;  // url -> error_kind ("" when ok)
  std::map<std::string, std::string> message_of;
  std::chrono::steady_clock::duration took{};
};

/// Runs `urls` through the http consumer with `http` (extra consumer keys).
run_outcome run_urls(const std::vector<std::string>& urls, const std::string& http,
                     int workers = 8) {
  temp_dir d;
  std::string yaml = "name: robots\nproducers:\n  - type: list\n    urls:\n";
  for (auto& u : urls) {
    yaml += "      - \"" + u + "\"\n";
  }
  yaml += "consumers: {type: http, workers: " + std::to_string(workers) + http +
          "}\nsinks: [{type: jsonl, path: out.jsonl}]\n";
  write_file(d / "p.yaml", yaml);
  process_options po;
  po.cwd = d.path();
  po.timeout = 60s;
  run_outcome o;
  auto t0 = std::chrono::steady_clock::now();
  o.run = run_process({sluice_bin(), "run", "p.yaml", "--no-progress"}, po);
  o.took = std::chrono::steady_clock::now() - t0;
  auto text = read_file(d / "out.jsonl");
  std::size_t at = 0;
  while (at < text.size()) {
    auto nl = text.find('\n', at);
    auto rec = json::parse(text.substr(at, nl - at)).as_object();
    at = nl == std::string::npos ? text.size() : nl + 1;
    std::string url(rec.at("url").as_string());
    auto kind = rec.if_contains("error_kind");
    o.kind_of[url] = kind && kind->is_string() ? std::string(kind->as_string()) : "";
    auto msg = rec.if_contains("error_message");
    o.message_of[url] = msg && msg->is_string() ? std::string(msg->as_string()) : "";
  }
  return o;
}

constexpr const char* k_obey = ", robots: obey, retry: {attempts: 2, backoff_base: 10ms}";

}  // namespace

TEST_CASE("robots.origin.disallowed_urls_are_never_requested_and_robots_txt_once") {
  sluice::origin_options oo;
  oo.robots_txt =
      "User-agent: *\nDisallow: /item/secret\nAllow: /item/secret-but-ok\n\n"
      "User-agent: otherbot\nDisallow: /\n";
  sluice::origin_server origin(oo);
  origin.start();
  std::vector<std::string> urls;
  for (int i = 0; i < 20; ++i) {
    urls.push_back(origin.base_url() + "/item/open-" + std::to_string(i));
    urls.push_back(origin.base_url() + "/item/secret-" + std::to_string(i));
  }
  urls.push_back(origin.base_url() + "/item/secret-but-ok");

  SUBCASE("obey: 16 workers start at once, one robots.txt fetch") {
    auto o = run_urls(urls, k_obey, 16);
    INFO(o.run.err);
    CHECK(o.run.exit_code == 3);  // the disallowed URLs are failures
    REQUIRE(o.kind_of.size() == urls.size());
    int disallowed = 0;
    for (auto& [url, kind] : o.kind_of) {
      bool secret = url.find("/item/secret-") != std::string::npos && !url.ends_with("but-ok");
      CHECK_MESSAGE(kind == (secret ? "robots" : ""), url);
      disallowed += kind == "robots";
    }
    CHECK(disallowed == 20);
    auto m = o.message_of[origin.base_url() + "/item/secret-3"];
    CHECK(m.find("disallows '/item/secret-3' for 'sluice' (line 2: Disallow: /item/secret)") !=
          std::string::npos);
    CHECK(origin.counters().requests == 21 + 1);  // the allowed URLs and one robots.txt
  }
  SUBCASE("robots_agent picks the otherbot group") {
    auto o = run_urls(urls, std::string(k_obey) + ", robots_agent: otherbot");
    for (auto& [url, kind] : o.kind_of) {
      CHECK_MESSAGE(kind == "robots", url);
    }
    CHECK(origin.counters().requests == 1);
  }
  SUBCASE("ignore (the default) fetches everything and never robots.txt") {
    auto o = run_urls(urls, "");
    for (auto& [url, kind] : o.kind_of) {
      CHECK_MESSAGE(kind == "", url);
    }
    CHECK(origin.counters().requests == urls.size());
  }
}

TEST_CASE("robots.origin.crawl_delay_is_a_rate") {
  sluice::origin_options oo;
  oo.robots_txt = "User-agent: *\nCrawl-delay: 0.25\n";
  sluice::origin_server origin(oo);
  origin.start();
  std::vector<std::string> urls;
  for (int i = 0; i < 5; ++i) {
    urls.push_back(origin.base_url() + "/item/" + std::to_string(i));
  }
  auto o = run_urls(urls, k_obey, 5);
  CHECK(o.run.exit_code == 0);
  // The first item takes the bucket's one token, the other four wait 0.25 s
  // each (a lower bound only: never an upper one).
  CHECK(o.took >= 900ms);
  CHECK(origin.counters().max_in_flight == 1);
}

TEST_CASE("robots.origin.hostile_robots_txt") {
  struct hostile {
    const char* robots_path;
    bool disallows;  // everything disallowed (unreachable), else nothing
    std::uint64_t robots_requests;
  };
  // retry.attempts 2; timeouts: header 500ms, total 1s.
  const hostile cases[] = {
      {"/status/503", true, 2},             // 5xx after the retries
      {"/status/429", true, 2},             // as a 5xx
      {"/status/404", false, 1},            // no robots.txt
      {"/status/403", false, 1},            // 4xx: unavailable (RFC 9309 2.3.1.3)
      {"/redirect-loop", false, 2},         // a loop: unavailable
      {"/redirect/7", false, 6},            // more than five hops: unavailable
      {"/redirect/4", false, 5},            // four hops: the file at the end (no rules)
      {"/hostile/reset-at-once", true, 2},  // the connection dropped
      {"/hostile/close-at-once", true, 2},
      {"/hostile/not-http", true, 1},    // protocol is not retried
      {"/delay/5000", true, 2},          // slow: timeout
      {"/stall", true, 2},               // a body that never ends
      {"/hostile/gzip-bomb", false, 1},  // decoded past 500 KiB: the first 500 KiB (zeros)
  };
  for (const auto& c : cases) {
    CAPTURE(c.robots_path);
    sluice::origin_options oo;
    oo.robots_path = c.robots_path;
    sluice::origin_server origin(oo);
    origin.start();
    auto base = origin.base_url();
    auto o = run_urls({base + "/item/a", base + "/item/b"},
                      std::string(k_obey) + ", timeouts: {header: 500ms, total: 1s}", 2);
    INFO(o.run.err);
    REQUIRE(o.kind_of.size() == 2);
    for (auto& [url, kind] : o.kind_of) {
      CHECK(kind == (c.disallows ? "robots" : ""));
    }
    if (c.disallows) {
      CHECK(o.message_of[base + "/item/a"].find("everything disallowed") != std::string::npos);
    }
    CHECK(origin.counters().requests == c.robots_requests + (c.disallows ? 0 : 2));
  }
}

TEST_CASE("robots.origin.huge_and_binary_files") {
  SUBCASE("rules past the first 500 KiB are not read") {
    sluice::origin_options oo;
    oo.robots_txt = "User-agent: *\nDisallow: /item/early\n# " + std::string(600 << 10, 'x') +
                    "\nDisallow: /item/late\n";
    sluice::origin_server origin(oo);
    origin.start();
    auto base = origin.base_url();
    auto o = run_urls({base + "/item/early", base + "/item/late"}, k_obey, 2);
    CHECK(o.kind_of[base + "/item/early"] == "robots");
    CHECK(o.kind_of[base + "/item/late"] == "");
  }
  SUBCASE("binary: no rules") {
    sluice::origin_options oo;
    std::string bin;
    for (int i = 0; i < 65536; ++i) {
      bin += static_cast<char>((i * 7919) % 256);
    }
    oo.robots_txt = bin;
    sluice::origin_server origin(oo);
    origin.start();
    auto base = origin.base_url();
    auto o = run_urls({base + "/item/x"}, k_obey, 1);
    CHECK(o.run.exit_code == 0);
    CHECK(o.kind_of[base + "/item/x"] == "");
  }
}

TEST_CASE("robots.origin.redirects_across_origins") {
  // B disallows /item/x. A's robots.txt redirects to B's, so B's rules hold
  // for A too; an item of A that redirects to B is checked against B's.
  sluice::origin_options ob;
  ob.robots_txt = "User-agent: *\nDisallow: /item/x\n";
  sluice::origin_server b(ob);
  b.start();
  sluice::origin_options oa;
  oa.robots_path = "/redirect-to?url=" + b.base_url() + "/robots.txt";
  sluice::origin_server a(oa);
  a.start();
  auto o = run_urls({a.base_url() + "/item/x", a.base_url() + "/item/y",
                     a.base_url() + "/redirect-to?url=" + b.base_url() + "/item/x"},
                    k_obey, 3);
  INFO(o.run.err);
  CHECK(o.kind_of[a.base_url() + "/item/x"] == "robots");
  CHECK(o.kind_of[a.base_url() + "/item/y"] == "");
  auto hop = a.base_url() + "/redirect-to?url=" + b.base_url() + "/item/x";
  CHECK(o.kind_of[hop] == "robots");
  CHECK(o.message_of[hop].find(b.base_url() + "/robots.txt disallows '/item/x'") !=
        std::string::npos);
  CHECK(a.counters().requests == 3);  // robots.txt (a redirect), /item/y, the redirect-to
  CHECK(b.counters().requests == 2);  // robots.txt for A's fetch and for B itself; no /item/x
}

TEST_CASE("robots.nginx_and_httpbin") {
  SUBCASE("nginx: a robots.txt in its document root") {
    nginx_fixture n;
    write_file(n.prefix() / "html" / "robots.txt",
               "User-agent: sluice\nDisallow: /large.bin\nDisallow: /*.txt$\n");
    auto status_before = http_fetch(n.base_url() + "/nginx_status").body;
    auto o = run_urls({n.base_url() + "/small.bin", n.base_url() + "/large.bin",
                       n.base_url() + "/text.txt", n.base_url() + "/text.txt?x=1"},
                      k_obey, 4);
    CHECK(o.kind_of[n.base_url() + "/small.bin"] == "");
    CHECK(o.kind_of[n.base_url() + "/large.bin"] == "robots");
    CHECK(o.kind_of[n.base_url() + "/text.txt"] == "robots");
    CHECK(o.kind_of[n.base_url() + "/text.txt?x=1"] == "");
    // stub_status: "Active connections ... \n server accepts handled requests\n A H R"
    auto requests = [](const std::string& s) {
      auto line = s.substr(s.find('\n', s.find("requests")) + 1);
      unsigned long a = 0, h = 0, r = 0;
      std::sscanf(line.c_str(), "%lu %lu %lu", &a, &h, &r);
      return r;
    };
    auto after = http_fetch(n.base_url() + "/nginx_status").body;
    // robots.txt, /small.bin, /text.txt?x=1 and the second status request.
    CHECK(requests(after) - requests(status_before) == 4);
  }
  SUBCASE("httpbin: its own robots.txt disallows /deny") {
    httpbin_fixture h;
    auto o = run_urls({h.base_url() + "/deny", h.base_url() + "/get"}, k_obey, 2);
    CHECK(o.kind_of[h.base_url() + "/deny"] == "robots");
    CHECK(o.kind_of[h.base_url() + "/get"] == "");
  }
}
