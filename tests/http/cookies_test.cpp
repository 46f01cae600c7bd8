// `cookies:` end to end through `sluice run`: httpbin's /cookies endpoints
// (set by a 302 and sent on the next hop, deleted, never sent to another
// host, appended to the user's own Cookie header), the cookie file read and
// written by curl (the differential check both ways), a raw test server
// sending hostile Set-Cookie headers (10,000 of them, a 1 MiB one, bad
// dates, a NUL byte), and SIGINT mid-run still writing the file.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>
#include <thread>

#include <boost/json.hpp>

#include "peers.hpp"
#include "test_support.hpp"

using namespace sluice::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct run_outcome {
  process_result run;
  std::vector<json::object> rows;  // in the sink's order

  const json::object& at(std::size_t i) const {
    REQUIRE_MESSAGE(i < rows.size(), run.err);
    return rows[i];
  }
  /// The cookies an httpbin /cookies body shows.
  json::object cookies(std::size_t i) const {
    const auto& r = at(i);
    REQUIRE_MESSAGE(r.contains("body"), json::serialize(r));
    return json::parse(r.at("body").as_string()).at("cookies").as_object();
  }
  std::string body(std::size_t i) const {
    const auto* b = at(i).if_contains("body");
    return b && b->is_string() ? std::string(b->as_string()) : "";
  }
  std::string kind(std::size_t i) const {
    const auto* k = at(i).if_contains("error_kind");
    return k && k->is_string() ? std::string(k->as_string()) : "";
  }
};

/// Runs `urls` in order (one worker) with `http` (extra consumer keys) in `d`.
run_outcome run_urls(const temp_dir& d, const std::vector<std::string>& urls,
                     const std::string& http, int workers = 1) {
  std::string yaml = "name: cookies\nproducers:\n  - type: list\n    urls:\n";
  for (auto& u : urls) {
    yaml += "      - \"" + u + "\"\n";
  }
  yaml += "consumers: {type: http, workers: " + std::to_string(workers) + ", fail_status: []" +
          http + "}\nmax_failed: 1000000\nsinks: [{type: jsonl, path: out.jsonl, body: true}]\n";
  write_file(d / "p.yaml", yaml);
  process_options po;
  po.cwd = d.path();
  po.timeout = 60s;
  run_outcome o;
  o.run = run_process({sluice_bin(), "run", "p.yaml", "--no-progress", "--no-state"}, po);
  std::ifstream in(d / "out.jsonl");
  for (std::string line; std::getline(in, line);) {
    o.rows.push_back(json::parse(line).as_object());
  }
  return o;
}

/// A raw HTTP/1.1 server on 127.0.0.1 answering each path with a canned
/// head (`Connection: close`) and, for /echo, the request's Cookie field as
/// the body. One connection at a time; stopped by the destructor.
class raw_server {
 public:
  explicit raw_server(std::map<std::string, std::string> heads) : heads_(std::move(heads)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~raw_server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        return;
      }
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        auto n = ::read(c, buf, sizeof buf);
        if (n <= 0) {
          break;
        }
        req.append(buf, static_cast<std::size_t>(n));
      }
      auto sp = req.find(' ');
      std::string path = req.substr(sp + 1, req.find(' ', sp + 1) - sp - 1);
      std::string out;
      if (path == "/echo") {
        std::string cookie;
        if (auto at = req.find("\r\nCookie: "); at != std::string::npos) {
          cookie = req.substr(at + 10, req.find("\r\n", at + 10) - at - 10);
        }
        out = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " +
              std::to_string(cookie.size()) + "\r\n\r\n" + cookie;
      } else {
        auto it = heads_.find(path);
        out = it == heads_.end() ? "HTTP/1.1 404 Not Found\r\n" : it->second;
        out += "Connection: close\r\nContent-Length: 2\r\n\r\nok";
      }
      for (std::size_t off = 0; off < out.size();) {
        auto n = ::write(c, out.data() + off, out.size() - off);
        if (n <= 0) {
          break;
        }
        off += static_cast<std::size_t>(n);
      }
      ::close(c);
    }
  }

  std::map<std::string, std::string> heads_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

process_result curl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"curl", "-s", "--max-time", "20"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

}  // namespace

TEST_CASE("cookies.httpbin.set_by_a_redirect_sent_on_the_next_hop_and_deleted") {
  httpbin_fixture bin;
  const auto base = bin.base_url();
  const std::vector<std::string> urls = {base + "/cookies/set?a=1&b=2", base + "/cookies",
                                         base + "/cookies/delete?a", base + "/cookies"};
  SUBCASE("cookies: true") {
    temp_dir d;
    auto o = run_urls(d, urls, ", cookies: true");
    INFO(o.run.err);
    CHECK(o.run.exit_code == 0);
    REQUIRE(o.rows.size() == 4);
    // The 302 of /cookies/set set them; its next hop (/cookies) sent them.
    CHECK(o.at(0).at("redirects").to_number<int>() == 1);
    CHECK(o.cookies(0) == json::object{{"a", "1"}, {"b", "2"}});
    CHECK(o.cookies(1) == json::object{{"a", "1"}, {"b", "2"}});
    CHECK(o.cookies(2) == json::object{{"b", "2"}});  // Max-Age=0 / Expires 1970 deleted a
    CHECK(o.cookies(3) == json::object{{"b", "2"}});
  }
  SUBCASE("without the option no cookie is kept") {
    temp_dir d;
    auto o = run_urls(d, urls, "");
    REQUIRE(o.rows.size() == 4);
    CHECK(o.cookies(0).empty());
    CHECK(o.cookies(1).empty());
  }
  SUBCASE("the user's own Cookie header is kept, the jar's appended") {
    temp_dir d;
    auto o = run_urls(d, {base + "/cookies/set?a=1", base + "/cookies"},
                      ", cookies: true, headers: {Cookie: mine=0}");
    REQUIRE(o.rows.size() == 2);
    CHECK(o.cookies(1) == json::object{{"mine", "0"}, {"a", "1"}});
  }
}

TEST_CASE("cookies.httpbin.host_a_cookies_never_go_to_host_b") {
  httpbin_fixture bin;
  const std::string a = "http://127.0.0.1:" + std::to_string(bin.port());
  const std::string b = "http://localhost:" + std::to_string(bin.port());
  temp_dir d;
  auto o = run_urls(
      d,
      {a + "/cookies/set?fromA=1", b + "/cookies", a + "/redirect-to?url=" + b + "/cookies",
       b + "/cookies/set?fromB=2", a + "/cookies"},
      ", cookies: true");
  INFO(o.run.err);
  REQUIRE(o.rows.size() == 5);
  CHECK(o.cookies(0) == json::object{{"fromA", "1"}});
  CHECK(o.cookies(1).empty());  // another host (same server)
  CHECK(o.cookies(2).empty());  // a redirect from A to B
  CHECK(o.cookies(3) == json::object{{"fromB", "2"}});
  CHECK(o.cookies(4) == json::object{{"fromA", "1"}});
}

TEST_CASE("cookies.file.written_by_sluice_read_by_curl_and_back") {
  httpbin_fixture bin;
  const auto base = bin.base_url();
  temp_dir d;
  SUBCASE("sluice writes, curl -b sends the same cookies") {
    auto o = run_urls(d, {base + "/cookies/set?a=1&b=two"}, ", cookies: {file: jar.txt}");
    INFO(o.run.err);
    CHECK(o.run.exit_code == 0);
    auto text = read_file(d / "jar.txt");
    INFO(text);
    CHECK(text.starts_with("# Netscape HTTP Cookie File\n"));
    CHECK(text.find("\tFALSE\t/\tFALSE\t0\ta\t1\n") != std::string::npos);  // session: 0
    auto c = curl({"-b", (d / "jar.txt").string(), base + "/cookies"});
    REQUIRE(c.exit_code == 0);
    CHECK(json::parse(c.out).at("cookies") == json::object{{"a", "1"}, {"b", "two"}});
    // A second run loads it: the cookies are sent without being set again.
    auto again = run_urls(d, {base + "/cookies"}, ", cookies: {file: jar.txt}");
    CHECK(again.cookies(0) == json::object{{"a", "1"}, {"b", "two"}});
  }
  SUBCASE("curl -c writes, sluice loads and writes it back") {
    auto c = curl({"-c", (d / "curl.txt").string(), base + "/cookies/set?c=3&d=4"});
    REQUIRE(c.exit_code == 0);
    INFO(read_file(d / "curl.txt"));
    // A line sluice cannot read is skipped with a warning naming file:line.
    std::ofstream(d / "curl.txt", std::ios::app) << "broken line\n";
    auto o = run_urls(d, {base + "/cookies"}, ", cookies: {file: curl.txt}");
    INFO(o.run.err);
    CHECK(o.run.exit_code == 0);
    CHECK(o.cookies(0) == json::object{{"c", "3"}, {"d", "4"}});
    CHECK(o.run.err.find("curl.txt:") != std::string::npos);
    CHECK(o.run.err.find("expected 7 tab-separated fields") != std::string::npos);
    auto back = curl({"-b", (d / "curl.txt").string(), base + "/cookies"});
    CHECK(json::parse(back.out).at("cookies") == json::object{{"c", "3"}, {"d", "4"}});
  }
  SUBCASE("a missing file is an empty jar; an unreadable one a config error") {
    auto o = run_urls(d, {base + "/cookies"}, ", cookies: {file: jar.txt}");
    CHECK(o.run.exit_code == 0);
    CHECK(o.cookies(0).empty());
    CHECK(std::filesystem::exists(d / "jar.txt"));
    std::filesystem::create_directory(d / "dir.txt");
    auto bad = run_urls(d, {base + "/cookies"}, ", cookies: {file: dir.txt}");
    CHECK(bad.run.exit_code != 0);
    CHECK(bad.run.err.find("dir.txt") != std::string::npos);
  }
}

TEST_CASE("cookies.hostile.floods_huge_values_and_bad_dates_are_bounded") {
  std::string flood = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 10000; ++i) {
    flood += "Set-Cookie: c" + std::to_string(i) + "=v; Path=/\r\n";
  }
  raw_server srv({
      {"/flood", flood},
      {"/huge", "HTTP/1.1 200 OK\r\nSet-Cookie: huge=" + std::string(1 << 20, 'x') + "\r\n"},
      {"/dates",
       "HTTP/1.1 200 OK\r\n"
       "Set-Cookie: d1=1; Expires=not a date\r\n"
       "Set-Cookie: d2=2; Expires=99 Foo 99999 99:99:99\r\n"
       "Set-Cookie: d3=3; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n"
       "Set-Cookie: d4=4; Max-Age=-99999999999999999999999\r\n"
       "Set-Cookie: d5=5; Max-Age=abc; Domain=; Path=\r\n"
       "Set-Cookie: ;;;===;;;\r\n"
       "Set-Cookie: \r\n"},
      {"/nul", std::string("HTTP/1.1 200 OK\r\nSet-Cookie: n=1\0x\r\n", 36)},
      {"/redirect", "HTTP/1.1 302 Found\r\nLocation: /echo\r\nSet-Cookie: hop=1\r\n"},
      {"/error", "HTTP/1.1 500 Oops\r\nSet-Cookie: err=1\r\n"},
  });
  temp_dir d;
  SUBCASE("default max_header: the flood fails as header_limit, nothing stored") {
    auto o = run_urls(d, {srv.url("/flood"), srv.url("/huge"), srv.url("/echo")},
                      ", cookies: true, retry: {attempts: 1}");
    INFO(o.run.err);
    REQUIRE(o.rows.size() == 3);
    CHECK(o.kind(0) == "header_limit");
    CHECK(o.kind(1) == "header_limit");
    CHECK(o.body(2).empty());
    CHECK(o.run.max_rss_kb < 300 * 1024);
  }
  SUBCASE("max_header 4MiB: 50 cookies kept of 10,000, the 1 MiB one ignored") {
    auto o = run_urls(d, {srv.url("/flood"), srv.url("/huge"), srv.url("/echo")},
                      ", cookies: {file: jar.txt}, max_header: 4MiB, retry: {attempts: 1}");
    INFO(o.run.err);
    REQUIRE(o.rows.size() == 3);
    CHECK(o.kind(0) == "");
    CHECK(o.kind(1) == "");
    auto sent = o.body(2);
    CHECK(std::count(sent.begin(), sent.end(), '=') == 50);
    CHECK(sent.find("huge") == std::string::npos);
    CHECK(o.run.max_rss_kb < 300 * 1024);
    auto jar = read_file(d / "jar.txt");
    CHECK(std::count(jar.begin(), jar.end(), '\n') == 4 + 50);
  }
  SUBCASE("bad dates, empty attributes, a NUL byte; redirects and 5xx set cookies too") {
    auto o = run_urls(d,
                      {srv.url("/dates"), srv.url("/nul"), srv.url("/error"), srv.url("/redirect"),
                       srv.url("/echo")},
                      ", cookies: true, retry: {attempts: 1}");
    INFO(o.run.err);
    REQUIRE(o.rows.size() == 5);
    CHECK(o.kind(0) == "");
    CHECK(o.kind(1) == "protocol");
    CHECK(o.at(2).at("status").to_number<int>() == 500);
    // The redirect's cookie went to its next hop already.
    CHECK(o.body(3) == "d1=1; d2=2; d5=5; err=1; hop=1");
    CHECK(o.body(4) == "d1=1; d2=2; d5=5; err=1; hop=1");
  }
}

TEST_CASE("cookies.signals.sigint_mid_run_still_writes_the_file") {
  temp_dir d;
  write_file(d / "p.yaml",
             "name: cookies-sigint\norigin: {port: 0}\n"
             "producers:\n"
             "  - {type: list, urls: [\"${origin}/cookies/set?early=1\"]}\n"
             "  - {type: range, url: \"${origin}/delay/300?i={i}\", to: 2000}\n"
             "consumers: {type: http, workers: 2, cookies: {file: jar.txt}}\n"
             "sinks: [{type: jsonl, path: out.jsonl}]\n");
  auto child = spawn_process({sluice_bin(), "run", "p.yaml", "--no-progress", "--no-state"},
                             d / "stdout", d / "stderr", [&] {
                               process_options po;
                               po.cwd = d.path();
                               return po;
                             }());
  for (int i = 0; i < 500 && !std::filesystem::exists(d / "out.jsonl"); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(700ms);
  ::kill(child.pid, SIGINT);
  auto r = wait_process(child, 30s);
  INFO(read_file(d / "stderr"));
  CHECK(r.exit_code == 130);
  REQUIRE(std::filesystem::exists(d / "jar.txt"));
  CHECK(read_file(d / "jar.txt").find("\tearly\t1\n") != std::string::npos);
}

TEST_CASE("cookies.config.boolean_or_mapping") {
  temp_dir d;
  auto check = [&](const std::string& cookies) {
    write_file(d / "p.yaml",
               "producers: [{type: list, urls: [\"http://127.0.0.1:1/\"]}]\n"
               "consumers: {type: http, cookies: " +
                   cookies + "}\nsinks: [{type: stdout}]\n");
    process_options po;
    po.cwd = d.path();
    return run_process({sluice_bin(), "check", "p.yaml"}, po);
  };
  for (std::string ok : {"true", "false", "{file: jar.txt}", "{}"}) {
    auto r = check(ok);
    CHECK_MESSAGE(r.exit_code == 0, ok << ": " << r.err);
  }
  auto bad = check("5");
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("true or false") != std::string::npos);
  auto list = check("[a]");
  CHECK(list.exit_code == 2);
  CHECK(list.err.find("must be true, false or a mapping") != std::string::npos);
  auto key = check("{fil: jar.txt}");
  CHECK(key.exit_code == 2);
  CHECK(key.err.find("did you mean 'file'") != std::string::npos);
}

TEST_CASE("cookies.records.a_records_own_cookie_header_gets_the_jars_appended") {
  httpbin_fixture bin;
  temp_dir d;
  write_file(d / "in.jsonl",
             "{\"url\": \"/cookies/set?jar=1\"}\n"
             "{\"url\": \"/cookies\", \"headers\": {\"Cookie\": \"rec=2\"}}\n"
             "{\"url\": \"/cookies\", \"method\": \"GET\"}\n");
  write_file(d / "p.yaml", "producers: [{type: jsonl, path: in.jsonl, base_url: \"" +
                               bin.base_url() +
                               "\"}]\n"
                               "consumers: {type: http, workers: 1, cookies: true}\n"
                               "sinks: [{type: jsonl, path: out.jsonl, body: true}]\n");
  process_options po;
  po.cwd = d.path();
  auto r = run_process({sluice_bin(), "run", "p.yaml", "--no-progress", "--no-state"}, po);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<json::object> rows;
  std::ifstream in(d / "out.jsonl");
  for (std::string line; std::getline(in, line);) {
    rows.push_back(json::parse(line).as_object());
  }
  REQUIRE(rows.size() == 3);
  auto cookies = [&](std::size_t i) {
    return json::parse(rows[i].at("body").as_string()).at("cookies").as_object();
  };
  CHECK(cookies(0) == json::object{{"jar", "1"}});
  CHECK(cookies(1) == json::object{{"rec", "2"}, {"jar", "1"}});
  CHECK(cookies(2) == json::object{{"jar", "1"}});
}
