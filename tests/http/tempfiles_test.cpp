// The run's temporary directory with the http consumer, end to end: a
// streamed body is unlinked as soon as the last sink is done with it, so
// TMPDIR holds about `workers` bodies at a time however long the run; the
// directories of dead runs (kill -9) are swept at the next start, and
// nothing else is touched.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "test_support.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// Files under every `sluice-*` run directory of `tmp` (owner files excluded).
std::size_t body_files(const fs::path& tmp) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(tmp, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec) && it->path().filename() != ".sluice-owner") {
      ++n;
    }
  }
  return n;
}

/// A pid that certainly names no process: a child that has been reaped.
int dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

}  // namespace

TEST_CASE("http.tempfiles.streamed_bodies_live_only_until_the_sinks_are_done") {
  temp_dir d;
  fs::create_directories(d / "tmp");
  // 10,000 bodies of 100 KB, streamed to files (memory_body 16 KiB), 10
  // workers, stored by the files sink (a hard link into out/).
  write_file(d / "p.yaml", R"(name: tempfiles
origin: {port: 0}
producers: [{type: range, url: "${origin}/bytes/100000?i={i}", to: 10000}]
queue: {capacity: 100}
consumers: {type: http, workers: 10, memory_body: 16KiB}
sinks: [{type: files, dir: out}]
)");
  // With state (the default) the files sink's commits (an fsync of what
  // it stored) must not let bodies pile up in TMPDIR either.
  std::vector<std::string> argv{sluice_bin(), "run", "-q", "p.yaml"};
  SUBCASE("with state") {}
  SUBCASE("with --no-state") {
    argv.push_back("--no-state");
  }
  process_options po;
  po.env["TMPDIR"] = (d / "tmp").string();
  po.cwd = d.path();
  auto c = spawn_process(argv, d / "stdout", d / "stderr", po);
  std::atomic<bool> done{false};
  std::size_t peak = 0;
  std::thread sampler([&] {
    while (!done.load()) {
      peak = std::max(peak, body_files(d / "tmp"));
      std::this_thread::sleep_for(2ms);
    }
  });
  auto r = wait_process(c, 120s);
  done = true;
  sampler.join();
  INFO(read_file(d / "stderr"));
  CHECK(r.exit_code == 0);
  MESSAGE("peak body files in TMPDIR: " << peak);
  CHECK(peak > 0);  // bodies were streamed through TMPDIR
  // One per worker plus what waits in the sink's queue and batch (45 seen
  // with 10 workers): not thousands.
  CHECK(peak <= 64);
  CHECK(body_files(d / "tmp") == 0);
  CHECK(fs::is_empty(d / "tmp"));  // the run's own directory is gone
  std::size_t stored = 0;
  for (auto& e : fs::recursive_directory_iterator(d / "out")) {
    if (e.is_regular_file() && e.path().string().find(".sluice-tmp") == std::string::npos) {
      ++stored;
      CHECK(e.file_size() == 100000);
    }
  }
  CHECK(stored == 10000);
}

TEST_CASE("http.tempfiles.dead_runs_directories_are_swept_at_start") {
  temp_dir d;
  auto tmp = d / "tmp";
  // A dead run's directory (kill -9 left it), a live run's, and ones that
  // are not sluice's to remove.
  fs::create_directories(tmp / "sluice-dead01");
  write_file(tmp / "sluice-dead01" / ".sluice-owner", std::to_string(dead_pid()) + "\n");
  write_file(tmp / "sluice-dead01" / "http-1-0-0.body", std::string(1000, 'x'));
  fs::create_directories(tmp / "sluice-live01");
  write_file(tmp / "sluice-live01" / ".sluice-owner", std::to_string(::getpid()) + "\n");
  fs::create_directories(tmp / "sluice-noown1");
  write_file(tmp / "sluice-noown1" / "keep", "no owner file: not ours to judge\n");
  fs::create_directories(tmp / "sluice-longer-name");
  write_file(tmp / "sluice-longer-name" / ".sluice-owner", std::to_string(dead_pid()) + "\n");
  write_file(d / "p.yaml", R"(name: sweep
origin: {port: 0}
producers: [{type: range, url: "${origin}/item/{i}", to: 5}]
consumers: {type: http}
sinks: [{type: "null"}]
)");
  process_options po;
  po.env["TMPDIR"] = tmp.string();
  po.cwd = d.path();
  auto r = run_process({sluice_bin(), "run", "-q", "--no-state", "p.yaml"}, po);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(fs::exists(tmp / "sluice-dead01"));
  CHECK(fs::exists(tmp / "sluice-live01"));
  CHECK(fs::exists(tmp / "sluice-noown1" / "keep"));
  CHECK(fs::exists(tmp / "sluice-longer-name"));
  std::size_t left = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(tmp)) {
    ++left;
  }
  CHECK(left == 3);  // and the run removed its own
}

namespace {

/// `sluice run` with TMPDIR on a tmpfs of `size` in a private mount
/// namespace (nothing outlives the child; unprivileged: a user namespace).
child_process run_with_small_tmpdir(const temp_dir& d, const std::string& size,
                                    std::vector<std::string> args) {
  std::vector<std::string> argv{
      "unshare",
      ::geteuid() == 0 ? "-m" : "-rm",
      "sh",
      "-c",
      "mount -t tmpfs -o size=" + size + " tmpfs \"$TMPDIR\" && exec \"$0\" \"$@\"",
      sluice_bin(),
      "run"};
  argv.insert(argv.end(), args.begin(), args.end());
  process_options po;
  po.env["TMPDIR"] = (d / "small").string();
  po.cwd = d.path();
  return spawn_process(argv, d / "stdout", d / "stderr", po);
}

std::size_t lines_of(const fs::path& p) {
  if (!fs::exists(p)) {
    return 0;
  }
  auto text = read_file(p);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

constexpr const char* full_tmpdir_pipeline = R"(name: fulltmp
origin: {port: 0}
producers: [{type: range, url: "${origin}/bytes/200000?i={i}", to: 200}]
queue: {capacity: 50}
consumers: {type: http, workers: 10, memory_body: 16KiB, retry: {attempts: 3, backoff_base: 20ms}}
sinks: [{type: jsonl, path: out.jsonl}, {type: files, dir: out}]
)";

}  // namespace

// A TMPDIR with no room for one body (64 KiB for bodies of 200 KB, streamed
// from 16 KiB): every item would fail the same way. The run retries, then
// stops with one clear message and exit 1 instead of failing the 200 items
// one by one; with state those items are not done, and a run with room
// resumes and stores every URL exactly once.
TEST_CASE("http.tempfiles.full_tmpdir_stops_the_run_and_a_later_run_resumes") {
  temp_dir d;
  fs::create_directories(d / "small");
  write_file(d / "p.yaml", full_tmpdir_pipeline);
  auto r = wait_process(
      run_with_small_tmpdir(d, "64k", {"--no-progress", "--stats-json", "stats.json", "p.yaml"}),
      120s);
  auto err = read_file(d / "stderr");
  INFO(err);
  REQUIRE(r.exit_code == 1);
  CHECK(err.find("No space left on device") != std::string::npos);
  CHECK(err.find("stopped the run") != std::string::npos);
  auto stats = read_file(d / "stats.json");
  CHECK(stats.find(R"("stop_reason":"environment")") != std::string::npos);
  // Not done, so in no sink and not counted as failed: fetched next time.
  CHECK(stats.find(R"("failed":0,)") != std::string::npos);
  CHECK(lines_of(d / "out.jsonl") == 0);
  CHECK(fs::is_empty(d / "small"));

  fs::create_directories(d / "roomy");
  process_options po;
  po.env["TMPDIR"] = (d / "roomy").string();
  po.cwd = d.path();
  auto again = run_process({sluice_bin(), "run", "--no-progress", "p.yaml"}, po);
  INFO(again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("resuming") != std::string::npos);
  CHECK(lines_of(d / "out.jsonl") == 200);
  std::size_t stored = 0;
  for (auto& e : fs::recursive_directory_iterator(d / "out")) {
    if (e.is_regular_file()) {
      ++stored;
      CHECK(e.file_size() == 200000);
    }
  }
  CHECK(stored == 200);
}

// Without state the items that met the full TMPDIR are recorded with kind
// `environment` (nothing is lost silently), and they are about one per
// worker, not all 200.
TEST_CASE("http.tempfiles.full_tmpdir_without_state_records_the_environment_failures") {
  temp_dir d;
  fs::create_directories(d / "small");
  write_file(d / "p.yaml", full_tmpdir_pipeline);
  auto r = wait_process(
      run_with_small_tmpdir(
          d, "64k", {"--no-progress", "--no-state", "--stats-json", "stats.json", "p.yaml"}),
      120s);
  auto err = read_file(d / "stderr");
  INFO(err);
  REQUIRE(r.exit_code == 1);
  auto text = read_file(d / "out.jsonl");
  auto lines = lines_of(d / "out.jsonl");
  auto environment = static_cast<std::size_t>(0);
  for (std::size_t at = 0;
       (at = text.find(R"("error_kind":"environment")", at)) != std::string::npos; ++at) {
    ++environment;
  }
  CHECK(lines >= 1);
  CHECK(environment == lines);
  CHECK(lines <= 20);  // the items in flight when it stopped, not all 200
  auto stats = read_file(d / "stats.json");
  CHECK(stats.find(R"("failed":)" + std::to_string(lines) + ",") != std::string::npos);
}
