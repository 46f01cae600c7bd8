// The test-support library itself: the process spawner's options, the
// deadline runner and temp_dir.
#include "test_support.hpp"

#include <csignal>
#include <filesystem>
#include <stdexcept>

#include <doctest/doctest.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace net = boost::asio;
using namespace std::chrono_literals;
using sluice::test::process_options;
using sluice::test::run_process;

TEST_CASE("support.run_process.captures_stdout_stderr_and_exit_code") {
  auto r = run_process({"sh", "-c", "echo hello; echo oops >&2; exit 3"});
  CHECK(r.exit_code == 3);
  CHECK(r.out == "hello\n");
  CHECK(r.err == "oops\n");
  auto inherited = run_process({"sh", "-c", "echo oops >&2"}, {.capture_stderr = false});
  CHECK(inherited.exit_code == 0);
  CHECK(inherited.err.empty());
}

TEST_CASE("support.run_process.input_env_cwd_timeout") {
  SUBCASE("stdin") {
    CHECK(run_process({"cat"}, {.input = "a\nb\n"}).out == "a\nb\n");
    CHECK(run_process({"cat"}).out.empty());  // /dev/null
  }
  SUBCASE("environment") {
    ::setenv("SLUICE_SUPPORT_TEST_VAR", "inherited", 1);
    CHECK(run_process({"sh", "-c", "echo $SLUICE_SUPPORT_TEST_VAR"}).out == "inherited\n");
    CHECK(run_process({"sh", "-c", "echo $SLUICE_SUPPORT_TEST_VAR"},
                      {.env = {{"SLUICE_SUPPORT_TEST_VAR", "set"}}})
              .out == "set\n");
    CHECK(run_process({"sh", "-c", "echo x${SLUICE_SUPPORT_TEST_VAR}"},
                      {.unset_env = {"SLUICE_SUPPORT_TEST_VAR"}})
              .out == "x\n");
  }
  SUBCASE("working directory") {
    sluice::test::temp_dir d("sluice-support");
    auto r = run_process({"pwd"}, {.cwd = d.path()});
    CHECK(std::filesystem::equivalent(r.out.substr(0, r.out.size() - 1), d.path()));
  }
  SUBCASE("timeout kills the child") {
    CHECK(run_process({"sleep", "30"}, {.timeout = 200ms}).exit_code == 128 + SIGKILL);
  }
  SUBCASE("a missing program throws") {
    CHECK_THROWS_AS(run_process({"/nonexistent/program"}), std::system_error);
  }
}

TEST_CASE("support.background_process.lines_and_signals") {
  sluice::test::background_process p({"sh", "-c", "echo ready; exec sleep 30"});
  CHECK(p.read_line(5s) == "ready");
  CHECK(p.signal_and_wait(SIGTERM, 5s) == 128 + SIGTERM);
}

TEST_CASE("support.spawn_process.output_to_files") {
  sluice::test::temp_dir d("sluice-support");
  auto c =
      sluice::test::spawn_process({"sh", "-c", "echo out; echo err >&2; exit 4"}, d / "o", d / "e");
  CHECK(sluice::test::wait_process(c, 10s).exit_code == 4);
  CHECK(sluice::test::read_file(d / "o") == "out\n");
  CHECK(sluice::test::read_file(d / "e") == "err\n");
}

TEST_CASE("support.run_until.value_exception_deadline") {
  net::io_context ioc;
  auto value = []() -> net::awaitable<int> { co_return 42; };
  CHECK(sluice::test::run_until(ioc, value()) == 42);
  auto throws = []() -> net::awaitable<void> {
    throw std::logic_error("boom");
    co_return;
  };
  CHECK_THROWS_AS(sluice::test::run_until(ioc, throws()), std::logic_error);
  auto hangs = []() -> net::awaitable<void> {
    net::steady_timer t(co_await net::this_coro::executor, std::chrono::hours(1));
    co_await t.async_wait(net::use_awaitable);
  };
  CHECK_THROWS_AS(sluice::test::run_until(ioc, hangs(), 100ms), sluice::test::deadline_exceeded);
  net::steady_timer busy(ioc, std::chrono::hours(1));
  busy.async_wait([](boost::system::error_code) {});
  CHECK_FALSE(sluice::test::run_until(ioc, 100ms));  // work left: the deadline stops it
}

TEST_CASE("support.temp_dir.removed_afterwards") {
  std::filesystem::path p;
  {
    sluice::test::temp_dir d("sluice-support");
    p = d.path();
    sluice::test::write_file(d / "sub/f", "x");
    CHECK(sluice::test::read_file(d / "sub/f") == "x");
  }
  CHECK_FALSE(std::filesystem::exists(p));
}
