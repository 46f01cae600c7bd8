// dedup_set: verdicts, exactness under forced fingerprint collisions (in the
// front and spilled to runs), reopening, torn log tails, kill -9, an exact
// comparison with std::unordered_map on two million strings, I/O errors and
// remove_files.
#include "dedup_set.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "test_support.hpp"

namespace fs = std::filesystem;
using sluice::detail::dedup_options;
using sluice::detail::dedup_set;
using sluice::test::temp_dir;
using verdict = dedup_set::verdict;

namespace {

// Small enough that a few hundred strings fill the front and spill.
constexpr std::size_t tiny = 16 << 10;

std::uint64_t always_42(std::string_view) {
  return 42;
}

// "<prefix><n>" collides with "<prefix><n ^ 1>": every fingerprint is shared
// by exactly two strings.
std::uint64_t pairs(std::string_view s) {
  std::uint64_t n = 0;
  auto digits = s.find_last_not_of("0123456789") + 1;
  std::from_chars(s.data() + digits, s.data() + s.size(), n);
  return n / 2;
}

// 16 bits: among 200,000 strings every fingerprint is shared by about three.
std::uint64_t weak(std::string_view s) {
  return dedup_set::default_hash(s) & 0xffff;
}

std::string key(std::size_t i) {
  return "http://127.0.0.1:8080/item/" + std::to_string(i);
}

std::size_t count_dedup_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    n += e.path().filename().string().starts_with("dedup") ? 1 : 0;
  }
  return n;
}

std::size_t count_runs(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    n += e.path().filename().string().starts_with("dedup.run.") ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("dedup_set.insert.added_then_same_owner_or_duplicate") {
  temp_dir d("sluice-dedup");
  dedup_set s(d.path());
  CHECK(s.size() == 0);
  CHECK(s.insert("http://a/1", 1) == verdict::added);
  CHECK(s.insert("http://a/1", 1) == verdict::same_owner);
  CHECK(s.insert("http://a/1", 2) == verdict::duplicate);
  CHECK(s.insert("http://a/2", 2) == verdict::added);
  CHECK(s.insert("http://a/", 3) == verdict::added);
  CHECK(s.insert("", 4) == verdict::added);
  CHECK(s.insert("", 4) == verdict::same_owner);
  CHECK(s.insert(std::string(100000, 'x'), 5) == verdict::added);
  CHECK(s.insert(std::string(100000, 'x'), 6) == verdict::duplicate);
  CHECK(s.insert(std::string(99999, 'x'), 6) == verdict::added);
  CHECK(s.size() == 6);
  s.sync();
  CHECK(fs::exists(d / "dedup.log"));
}

TEST_CASE("dedup_set.collisions.one_fingerprint_for_all_in_memory_and_spilled") {
  temp_dir d("sluice-dedup");
  const dedup_options o{.memory_bytes = tiny, .hash = &always_42};
  constexpr std::size_t n = 2500;
  {
    dedup_set s(d.path(), o);
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(s.insert(key(i), i) == verdict::added);
    }
    CHECK(s.size() == n);
    CHECK(count_runs(d.path()) >= 2);
    for (std::size_t i = 0; i < n; i += 7) {
      CHECK(s.insert(key(i), i) == verdict::same_owner);
      CHECK(s.insert(key(i), i + 1) == verdict::duplicate);
    }
    // Prefixes and extensions of stored strings are other strings.
    CHECK(s.insert(key(12) + "0000", 1) == verdict::added);
    CHECK(s.insert("http://127.0.0.1:8080/item/", 1) == verdict::added);
  }
  dedup_set s(d.path(), o);
  CHECK(s.size() == n + 2);
  for (std::size_t i = 3; i < n; i += 11) {
    CHECK(s.insert(key(i), i) == verdict::same_owner);
    CHECK(s.insert(key(i), 0) == verdict::duplicate);
  }
  CHECK(s.insert(key(n), 0) == verdict::added);
}

TEST_CASE("dedup_set.collisions.pairs_share_a_fingerprint_both_kept") {
  temp_dir d("sluice-dedup");
  const dedup_options o{.memory_bytes = tiny, .hash = &pairs};
  constexpr std::size_t n = 20000;
  dedup_set s(d.path(), o);
  // Even ones first, so each odd one meets its partner in the front or in a
  // run, depending on how long ago the partner came.
  for (std::size_t i = 0; i < n; i += 2) {
    REQUIRE(s.insert(key(i), 1) == verdict::added);
  }
  for (std::size_t i = n; i > 0; i -= 2) {
    REQUIRE(s.insert(key(i - 1), 2) == verdict::added);
  }
  CHECK(count_runs(d.path()) >= 2);
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(s.insert(key(i), 1 + i % 2) == verdict::same_owner);
    REQUIRE(s.insert(key(i), 3) == verdict::duplicate);
  }
  CHECK(s.size() == n);
}

TEST_CASE("dedup_set.reopen.gives_the_same_answers") {
  temp_dir d("sluice-dedup");
  const dedup_options o{.memory_bytes = 256 << 10};
  constexpr std::size_t n = 100000;
  {
    dedup_set s(d.path(), o);
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(s.insert(key(i), i % 5) == verdict::added);
    }
  }
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    dedup_set s(d.path(), o);
    CHECK(s.size() == n + round);
    CHECK(s.torn_bytes() == 0);
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(s.insert(key(i), i % 5) == verdict::same_owner);
    }
    CHECK(s.insert(key(n + round), 0) == verdict::added);
  }
  // A smaller budget than the set was built with: replay spills as it goes.
  dedup_set s(d.path(), {.memory_bytes = tiny});
  CHECK(s.size() == n + 2);
  CHECK(s.insert(key(n - 1), 9) == verdict::duplicate);
}

TEST_CASE("dedup_set.reopen.a_torn_tail_is_cut_and_earlier_keys_stay") {
  enum class damage { cut_in_bytes, cut_in_header, garbage_after, bytes_changed };
  damage how = damage::cut_in_bytes;
  SUBCASE("cut inside the last record's bytes") {
    how = damage::cut_in_bytes;
  }
  SUBCASE("cut inside the last record's header") {
    how = damage::cut_in_header;
  }
  SUBCASE("garbage after the last record") {
    how = damage::garbage_after;
  }
  SUBCASE("the last record's bytes changed") {
    how = damage::bytes_changed;
  }
  for (bool with_runs : {false, true}) {
    CAPTURE(with_runs);
    temp_dir d("sluice-dedup");
    if (with_runs) {
      dedup_set s(d.path(), {.memory_bytes = tiny});
      for (std::size_t i = 0; i < 5000; ++i) {
        REQUIRE(s.insert("run/" + std::to_string(i), 1) == verdict::added);
      }
    }
    {
      dedup_set s(d.path(), {.memory_bytes = tiny});
      for (std::size_t i = 0; i < 100; ++i) {
        REQUIRE(s.insert(key(i), 7) == verdict::added);
      }
    }
    const auto log = d / "dedup.log";
    const auto whole = fs::file_size(log);
    switch (how) {
      case damage::cut_in_bytes:
        fs::resize_file(log, whole - 5);
        break;
      case damage::cut_in_header:
        fs::resize_file(log, whole - key(99).size() - 9);
        break;
      case damage::garbage_after:
        std::ofstream(log, std::ios::binary | std::ios::app) << std::string(100, '\x07');
        break;
      case damage::bytes_changed: {
        std::fstream f(log, std::ios::binary | std::ios::in | std::ios::out);
        f.seekp(static_cast<std::streamoff>(whole - 1));
        f << 'Z';
        break;
      }
    }
    dedup_set s(d.path(), {.memory_bytes = tiny});
    CHECK(s.torn_bytes() > 0);
    CHECK(fs::file_size(log) <= whole);
    for (std::size_t i = 0; i < 99; ++i) {
      REQUIRE(s.insert(key(i), 7) == verdict::same_owner);
    }
    const bool last_kept = how == damage::garbage_after;
    CHECK(s.insert(key(99), 7) == (last_kept ? verdict::same_owner : verdict::added));
    CHECK(s.insert(key(100), 7) == verdict::added);
    if (with_runs) {
      CHECK(fs::exists(d / "dedup.manifest"));
      CHECK(s.insert("run/4999", 2) == verdict::duplicate);
      CHECK(s.insert("run/0", 2) == verdict::duplicate);
    }
  }
}

TEST_CASE("dedup_set.reference.two_million_random_strings_tiny_budget") {
  temp_dir d("sluice-dedup");
  const dedup_options o{.memory_bytes = 1 << 20};
  std::mt19937_64 rng(20240611);
  // 1.4M possible strings drawn 2M times: about 30% repeats, and lengths
  // from 6 to 40 bytes so the length check alone cannot decide.
  std::uniform_int_distribution<std::uint64_t> pick(0, 1400000 - 1);
  std::uniform_int_distribution<std::uint64_t> owner(0, 3);
  auto text = [](std::uint64_t v) {
    std::string s = "u" + std::to_string(v * 2654435761u % 1000003);
    s += std::string(v % 35, static_cast<char>('a' + v % 26));
    return s + std::to_string(v);
  };
  std::unordered_map<std::string, std::uint64_t> ref;
  ref.reserve(1500000);
  std::size_t mismatches = 0;
  {
    dedup_set s(d.path(), o);
    for (int i = 0; i < 2000000; ++i) {
      std::string k = text(pick(rng));
      std::uint64_t w = owner(rng);
      auto [it, fresh] = ref.emplace(k, w);
      verdict want =
          fresh ? verdict::added : (it->second == w ? verdict::same_owner : verdict::duplicate);
      if (s.insert(k, w) != want) {
        ++mismatches;
      }
    }
    CHECK(mismatches == 0);
    CHECK(s.size() == ref.size());
    CHECK(count_runs(d.path()) >= 3);
  }
  dedup_set s(d.path(), o);
  CHECK(s.size() == ref.size());
  std::size_t checked = 0;
  for (const auto& [k, w] : ref) {
    if (++checked % 10 == 0 && s.insert(k, w) != verdict::same_owner) {
      ++mismatches;
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("dedup_set.reference.sixteen_bit_fingerprints") {
  temp_dir d("sluice-dedup");
  dedup_set s(d.path(), {.memory_bytes = 64 << 10, .hash = &weak});
  std::unordered_map<std::string, std::uint64_t> ref;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> pick(0, 150000);
  std::size_t mismatches = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string k = key(pick(rng));
    std::uint64_t w = rng() % 2;
    auto [it, fresh] = ref.emplace(k, w);
    verdict want =
        fresh ? verdict::added : (it->second == w ? verdict::same_owner : verdict::duplicate);
    mismatches += s.insert(k, w) != want ? 1 : 0;
  }
  CHECK(mismatches == 0);
  CHECK(s.size() == ref.size());
}

TEST_CASE("dedup_set.threads.each_key_added_once_across_producers") {
  temp_dir d("sluice-dedup");
  dedup_set s(d.path(), {.memory_bytes = 64 << 10});
  constexpr int threads = 4;
  constexpr std::size_t n = 20000;
  std::atomic<std::size_t> added{0};
  std::atomic<std::size_t> duplicates{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      // Every thread produces every key, in its own order.
      for (std::size_t i = 0; i < n; ++i) {
        auto v = s.insert(key((i * 7919 + t * 104729) % n), static_cast<std::uint64_t>(t));
        (v == verdict::added ? added : duplicates) += 1;
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  CHECK(added == n);
  CHECK(duplicates == n * (threads - 1));
  CHECK(s.size() == n);
}

TEST_CASE("dedup_set.crash.kill_9_keeps_what_was_synced") {
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    temp_dir d("sluice-dedup");
    constexpr std::size_t synced = 20000;
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // The child stores keys in order, syncs, says so, and goes on
      // (spilling now and then) until it is killed.
      ::close(ready[0]);
      try {
        dedup_set s(d.path(), {.memory_bytes = 64 << 10});
        for (std::size_t i = 0; i < synced; ++i) {
          s.insert(key(i), 7);
        }
        s.sync();
        (void)!::write(ready[1], "x", 1);
        for (std::size_t i = synced; i < 50000000; ++i) {
          s.insert(key(i), 7);
        }
      } catch (const std::exception&) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + 40 * round));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));

    dedup_set s(d.path(), {.memory_bytes = 64 << 10});
    const std::uint64_t kept = s.size();
    MESSAGE("kept " << kept << " keys, cut " << s.torn_bytes() << " bytes");
    REQUIRE(kept >= synced);
    for (std::size_t i = 0; i < synced; ++i) {
      REQUIRE(s.insert(key(i), 7) == verdict::same_owner);
    }
    // What survives is a prefix of what was stored: the log loses a tail.
    for (std::size_t i = synced; i < kept; ++i) {
      REQUIRE(s.insert(key(i), 7) == verdict::same_owner);
    }
    for (std::size_t i = kept; i < kept + 1000; ++i) {
      REQUIRE(s.insert(key(i), 7) == verdict::added);
    }
  }
}

TEST_CASE("dedup_set.open.failures_name_the_path") {
  temp_dir d("sluice-dedup");
  SUBCASE("the directory is a file") {
    sluice::test::write_file(d / "f", "x");
    auto dir = d / "f";
    CHECK_THROWS_WITH_AS(dedup_set{dir}, doctest::Contains(dir.string().c_str()),
                         std::runtime_error);
  }
  SUBCASE("already open") {
    dedup_set s(d.path());
    CHECK_THROWS_WITH_AS(dedup_set{d.path()}, doctest::Contains(d.path().string().c_str()),
                         std::runtime_error);
  }
  SUBCASE("another fingerprint function") {
    {
      dedup_set s(d.path(), {.memory_bytes = tiny});
      for (std::size_t i = 0; i < 1000; ++i) {
        s.insert(key(i), 1);
      }
    }
    CHECK_THROWS_WITH_AS((dedup_set{d.path(), {.memory_bytes = tiny, .hash = &always_42}}),
                         doctest::Contains("fingerprint"), std::runtime_error);
    dedup_set s(d.path(), {.memory_bytes = tiny});
    CHECK(s.insert(key(3), 1) == verdict::same_owner);
  }
}

TEST_CASE("dedup_set.errors.enospc_is_a_system_error_naming_the_log") {
  temp_dir d("sluice-dedup");
  if (!fs::exists("/dev/full")) {
    MESSAGE("no /dev/full: skipped");
    return;
  }
  fs::create_symlink("/dev/full", d / "dedup.log");
  dedup_set s(d.path());
  CHECK(s.insert("http://a/1", 1) == verdict::added);
  try {
    s.sync();
    FAIL("sync() did not throw");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::no_space_on_device);
    CHECK(std::string(e.what()).find((d / "dedup.log").string()) != std::string::npos);
  }
  // The record stays buffered: the set still knows the key.
  CHECK(s.insert("http://a/1", 1) == verdict::same_owner);
  // Filling the buffer fails the insert that needs the space, storing nothing.
  bool threw = false;
  std::size_t i = 0;
  for (; i < 10000 && !threw; ++i) {
    try {
      s.insert(key(i), 2);
    } catch (const std::system_error& e) {
      threw = e.code() == std::errc::no_space_on_device;
    }
  }
  CHECK(threw);
  CHECK(s.size() == i);
}

TEST_CASE("dedup_set.errors.a_failed_spill_leaves_the_set_whole") {
  temp_dir d("sluice-dedup");
  std::size_t stored = 0;
  {
    dedup_set s(d.path(), {.memory_bytes = tiny});
    // The first spill's temporary run file cannot be created: a directory
    // holds its name.
    fs::create_directory(d / "dedup.run.1.tmp");
    bool threw = false;
    for (; stored < 5000 && !threw; ++stored) {
      try {
        s.insert(key(stored), 1);
      } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("dedup.run.1.tmp") != std::string::npos);
        threw = true;
      }
    }
    REQUIRE(threw);
    --stored;  // the insert that threw stored nothing
    CHECK(s.size() == stored);
    for (std::size_t i = 0; i < stored; ++i) {
      REQUIRE(s.insert(key(i), 1) == verdict::same_owner);
    }
    // The next spill takes the next name and succeeds.
    for (std::size_t i = stored; i < 3000; ++i) {
      REQUIRE(s.insert(key(i), 1) == verdict::added);
    }
    CHECK(count_runs(d.path()) >= 1);
  }
  dedup_set s(d.path(), {.memory_bytes = tiny});
  CHECK(s.size() == 3000);
  CHECK_FALSE(fs::exists(d / "dedup.run.1.tmp"));
  for (std::size_t i = 0; i < 3000; i += 3) {
    REQUIRE(s.insert(key(i), 2) == verdict::duplicate);
  }
}

TEST_CASE("dedup_set.remove_files.leaves_no_dedup_files_and_others_alone") {
  temp_dir d("sluice-dedup");
  sluice::test::write_file(d / "state.db", "not ours");
  {
    dedup_set s(d.path(), {.memory_bytes = tiny});
    for (std::size_t i = 0; i < 3000; ++i) {
      s.insert(key(i), 1);
    }
    s.sync();
  }
  CHECK(count_dedup_files(d.path()) >= 3);
  dedup_set::remove_files(d.path());
  CHECK(count_dedup_files(d.path()) == 0);
  CHECK(fs::exists(d / "state.db"));
  dedup_set::remove_files(d / "missing");
  dedup_set s(d.path());
  CHECK(s.size() == 0);
  CHECK(s.insert(key(1), 1) == verdict::added);
}
