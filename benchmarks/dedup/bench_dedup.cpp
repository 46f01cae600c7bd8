// dedup_set throughput and memory: N URL-like strings (~37 bytes,
// `http://127.0.0.1:8080/item/<id>`) with 30% repeats of earlier ones, in
// random order, inserted into a dedup_set in a scratch directory and into a
// std::unordered_set<std::string>. Each runs in its own child process, so
// each peak RSS (getrusage ru_maxrss) is its own; a third child only
// generates the strings, to show what the generator costs.
// Usage: bench_dedup [N (10000000)] [memory bytes (16 MiB)] [dir] [--no-reference]
// (--no-reference skips the unordered_set, which needs ~85 bytes a string).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "dedup_set.hpp"

namespace fs = std::filesystem;
using sluice::detail::dedup_set;

namespace {

// The keys, made on the fly so the generator holds no memory: the j-th
// distinct key carries id j times an odd constant modulo 2^34, a bijection
// (distinct keys, no order); a repeat picks a uniform earlier j.
class workload {
 public:
  explicit workload(std::uint64_t seed) : rng_(seed) {}

  std::string_view next() {
    std::uint64_t j = made_;
    if (made_ > 0 && repeat_(rng_)) {
      j = std::uniform_int_distribution<std::uint64_t>(0, made_ - 1)(rng_);
    } else {
      ++made_;
    }
    std::uint64_t id = (j * 0x9E3779B97F4A7C15ull) & ((std::uint64_t{1} << 34) - 1);
    auto r = fmt::format_to_n(buf_, sizeof buf_, "http://127.0.0.1:8080/item/{}", id);
    return {buf_, r.size};
  }

 private:
  std::mt19937_64 rng_;
  std::bernoulli_distribution repeat_{0.3};
  std::uint64_t made_ = 0;
  char buf_[64];
};

// What a child sends back through its pipe.
struct figures {
  double seconds = 0;
  std::uint64_t distinct = 0;
  std::uint64_t added = 0;
  long base_rss_kib = 0;
  long peak_rss_kib = 0;
  long anon_kib = 0;  // RssAnon and RssFile at the end: heap versus mapped code
  long file_kib = 0;
  std::uint64_t disk_bytes = 0;
};

long peak_rss_kib() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// A field of /proc/self/status in KiB ("RssAnon:" ...), 0 when missing.
long status_kib(std::string_view field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field)) {
      return std::strtol(line.c_str() + field.size(), nullptr, 10);
    }
  }
  return 0;
}

void finish(figures& f) {
  f.peak_rss_kib = peak_rss_kib();
  f.anon_kib = status_kib("RssAnon:");
  f.file_kib = status_kib("RssFile:");
}

figures run_dedup(std::uint64_t n, std::size_t memory, const fs::path& dir) {
  figures f;
  f.base_rss_kib = peak_rss_kib();
  workload w(1);
  auto t0 = std::chrono::steady_clock::now();
  {
    dedup_set s(dir, {.memory_bytes = memory});
    for (std::uint64_t i = 0; i < n; ++i) {
      f.added += s.insert(w.next(), i) == dedup_set::verdict::added ? 1 : 0;
    }
    s.sync();
    f.distinct = s.size();
    f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    finish(f);  // while the set is alive: RssAnon is then its memory
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    f.disk_bytes += e.is_regular_file() ? e.file_size() : 0;
  }
  return f;
}

figures run_unordered_set(std::uint64_t n) {
  figures f;
  f.base_rss_kib = peak_rss_kib();
  workload w(1);
  auto t0 = std::chrono::steady_clock::now();
  std::unordered_set<std::string> s;
  for (std::uint64_t i = 0; i < n; ++i) {
    f.added += s.emplace(w.next()).second ? 1 : 0;
  }
  f.distinct = s.size();
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  finish(f);
  return f;
}

figures run_generator(std::uint64_t n) {
  figures f;
  f.base_rss_kib = peak_rss_kib();
  workload w(1);
  auto t0 = std::chrono::steady_clock::now();
  std::size_t bytes = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    bytes += w.next().size();
  }
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  f.distinct = bytes / n;  // reported as the mean key length
  finish(f);
  return f;
}

// Runs `body` in a child process and returns what it sent back.
template <class F>
figures in_child(F body) {
  int p[2];
  if (::pipe(p) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    int rc = 0;
    try {
      figures f = body();
      rc = ::write(p[1], &f, sizeof f) == sizeof f ? 0 : 1;
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench_dedup: {}\n", e.what());
      rc = 1;
    }
    ::_exit(rc);
  }
  ::close(p[1]);
  figures f;
  bool ok = ::read(p[0], &f, sizeof f) == sizeof f;
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "bench_dedup: a child failed\n");
    std::exit(1);
  }
  return f;
}

void print_row(const char* name, const figures& f, std::uint64_t n) {
  fmt::print("{:<14} {:>8.2f} s {:>10.0f}/s {:>10} {:>9.1f} MiB {:>7.1f} MiB", name, f.seconds,
             static_cast<double>(n) / f.seconds, f.distinct, f.peak_rss_kib / 1024.0,
             f.base_rss_kib / 1024.0);
  fmt::print("  (end: anon {:.1f}, file {:.1f} MiB)", f.anon_kib / 1024.0, f.file_kib / 1024.0);
  if (f.disk_bytes != 0) {
    fmt::print("  disk {:.0f} MiB", static_cast<double>(f.disk_bytes) / (1 << 20));
  }
  fmt::print("\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  bool reference = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--no-reference") {
      reference = false;
    } else {
      args.push_back(a);
    }
  }
  std::uint64_t n = args.size() > 0 ? std::strtoull(args[0].c_str(), nullptr, 10) : 10000000;
  std::size_t memory =
      args.size() > 1 ? std::strtoull(args[1].c_str(), nullptr, 10) : std::size_t{16} << 20;
  fs::path dir = args.size() > 2
                     ? fs::path(args[2])
                     : fs::temp_directory_path() / fmt::format("sluice-bench-dedup-{}", ::getpid());
  if (n == 0) {
    fmt::print(stderr, "usage: bench_dedup [N] [memory bytes] [dir] [--no-reference]\n");
    return 2;
  }
  dedup_set::remove_files(dir);
  fmt::print(
      "dedup_set: {} inserts, 30% repeats in random order, memory budget {:.1f} MiB, in {}\n", n,
      memory / 1048576.0, dir.string());
  figures gen = in_child([&] { return run_generator(n); });
  fmt::print("{:<14} {:>10} {:>12} {:>10} {:>13} {:>11}\n", "", "time", "inserts", "distinct",
             "peak RSS", "base RSS");
  fmt::print(
      "{:<14} {:>8.2f} s {:>10.0f}/s {:>10} {:>9.1f} MiB {:>7.1f} MiB  (mean key {} bytes)\n",
      "generate only", gen.seconds, static_cast<double>(n) / gen.seconds, "-",
      gen.peak_rss_kib / 1024.0, gen.base_rss_kib / 1024.0, gen.distinct);
  figures d = in_child([&] { return run_dedup(n, memory, dir); });
  print_row("dedup_set", d, n);
  dedup_set::remove_files(dir);
  std::error_code ec;
  fs::remove(dir, ec);
  if (!reference) {
    return 0;
  }
  figures u = in_child([&] { return run_unordered_set(n); });
  print_row("unordered_set", u, n);
  if (d.distinct != u.distinct || d.added != u.added) {
    fmt::print("MISMATCH: dedup_set added {} ({} distinct), unordered_set {} ({})\n", d.added,
               d.distinct, u.added, u.distinct);
    return 1;
  }
  fmt::print(
      "dedup_set / unordered_set: throughput {:.2f}x, peak RSS {:.3f}x ({:.1f} / {:.1f} MiB)\n",
      u.seconds / d.seconds,
      static_cast<double>(d.peak_rss_kib) / static_cast<double>(u.peak_rss_kib),
      d.peak_rss_kib / 1024.0, u.peak_rss_kib / 1024.0);
  return 0;
}
