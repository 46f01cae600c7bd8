// The run state's pieces without a pipeline: producer_progress (watermark and
// done intervals), commit_tracker (done only when every routed sink
// committed; held items) and state_store (a save/load round trip of every
// field, in a real SQLite file). Under ASan, a load that read freed memory
// (the held keys, once) fails here rather than one resumed run in five.
#include <doctest/doctest.h>

#include <random>

#include "run_state.hpp"
#include "test_support.hpp"

using namespace sluice::detail;

TEST_CASE("run_state.producer_progress.watermark_advances_over_done_runs_only") {
  producer_progress p;
  p.mark_done(2, 30);
  p.mark_done(1, 20);
  CHECK(p.watermark() == 0);
  CHECK(p.is_done(1));
  CHECK_FALSE(p.is_done(0));
  p.mark_done(0, 10);
  CHECK(p.watermark() == 3);
  CHECK(p.watermark_offset() == 30);
  p.mark_done(5, 60);
  p.mark_done(7, 80);
  CHECK(p.done_count() == 5);
  auto back =
      producer_progress::from_saved(p.watermark(), p.watermark_offset(), p.intervals_json());
  CHECK(back.watermark() == 3);
  CHECK(back.is_done(5));
  CHECK(back.is_done(7));
  CHECK_FALSE(back.is_done(6));
  CHECK(back.done_count() == 5);
  back.mark_done(6, 70);
  back.mark_done(4, 50);
  CHECK(back.watermark() == 3);  // 3 is not done yet
  back.mark_done(3, 40);
  CHECK(back.watermark() == 8);
  CHECK(back.watermark_offset() == 80);
}

TEST_CASE("run_state.producer_progress.random_order_matches_a_reference") {
  std::mt19937 rng(7);
  std::vector<std::uint64_t> order(5000);
  for (std::uint64_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  // Out of order, but within a window (as workers finish items).
  for (std::size_t i = 0; i + 1 < order.size(); ++i) {
    std::uniform_int_distribution<std::size_t> d(i, std::min(order.size() - 1, i + 40));
    std::swap(order[i], order[d(rng)]);
  }
  producer_progress p;
  std::vector<bool> ref(order.size());
  for (std::size_t n = 0; n < order.size(); ++n) {
    p.mark_done(order[n], order[n] + 1);
    ref[order[n]] = true;
    if (n % 97 == 0) {
      p = producer_progress::from_saved(p.watermark(), p.watermark_offset(), p.intervals_json());
      std::uint64_t w = 0;
      while (w < ref.size() && ref[w]) {
        ++w;
      }
      REQUIRE(p.watermark() == w);
      for (std::uint64_t i = 0; i < ref.size(); i += 13) {
        REQUIRE(p.is_done(i) == ref[i]);
      }
    }
  }
  CHECK(p.watermark() == order.size());
  CHECK(p.intervals_json() == "[]");
}

TEST_CASE("run_state.commit_tracker.done_once_every_routed_sink_committed") {
  commit_tracker t(1, 2, nullptr);
  const auto a = item_key(0, 0), b = item_key(0, 1), c = item_key(0, 2);
  t.delivered(a, 0b11, 1);
  t.delivered(b, 0b01, 2);
  t.delivered(c, 0, 3);  // routed to no sink: done at once
  CHECK(t.is_done(0, 2));
  t.committed(0, std::string("100"), {a, b});
  CHECK(t.is_done(0, 1));
  CHECK_FALSE(t.is_done(0, 0));  // sink 1 has not committed it
  std::uint64_t pending = 0;
  auto s = t.snapshot(&pending);
  CHECK(pending == 1);
  REQUIRE(s.sinks.size() == 2);
  CHECK(s.sinks[0].position == std::optional<std::string>("100"));
  // Sink 0 holds item 0, which is not done: a resumed run must not give it
  // to sink 0 again.
  CHECK(s.sinks[0].held == std::vector<std::uint64_t>{a});
  CHECK(s.sinks[1].held.empty());
  commit_tracker resumed(1, 2, &s);
  CHECK(resumed.held_by(a) == 0b01);
  CHECK_FALSE(resumed.is_done(0, 0));
  CHECK(resumed.is_done(0, 1));
  t.committed(1, std::nullopt, {a});
  CHECK(t.is_done(0, 0));
  CHECK(t.snapshot().producers[0].watermark() == 3);
}

TEST_CASE("run_state.state_store.round_trip_of_every_field") {
  sluice::test::temp_dir d;
  saved_state s;
  s.config_hash = "abc123";
  s.total = 15000;
  s.commits = 30;
  producer_progress p0, p1;
  for (std::uint64_t i = 0; i < 1333; ++i) {
    p0.mark_done(i, i * 10);
  }
  p0.mark_done(1400, 14010);
  p1.mark_done(3, 4);
  s.producers = {p0, p1};
  s.sinks.resize(4);
  s.sinks[0].position = "450447";
  s.sinks[1].position = "309851";
  s.sinks[1].held = {item_key(0, 1333), item_key(1, 0), item_key(0, (1ULL << 40) + 5)};
  s.sinks[2].position = "";
  s.sinks[3].held = {item_key(0, 1333)};
  {
    state_store st(d / "state");
    CHECK_FALSE(st.load().has_value());
    st.save(s);
  }
  state_store st(d / "state");
  for (int again = 0; again < 2; ++again) {
    auto l = st.load();
    REQUIRE(l.has_value());
    CHECK(l->config_hash == "abc123");
    CHECK_FALSE(l->finished);
    CHECK(l->total == std::optional<std::uint64_t>(15000));
    CHECK(l->commits == 30);
    REQUIRE(l->producers.size() == 2);
    CHECK(l->producers[0].watermark() == 1333);
    CHECK(l->producers[0].watermark_offset() == 13320);
    CHECK(l->producers[0].is_done(1400));
    CHECK(l->producers[1].is_done(3));
    CHECK(l->producers[1].watermark() == 0);
    CHECK(l->done_count() == 1335);
    REQUIRE(l->sinks.size() == 4);
    CHECK(l->sinks[0].position == std::optional<std::string>("450447"));
    CHECK(l->sinks[0].held.empty());
    CHECK(l->sinks[1].held == s.sinks[1].held);
    CHECK(l->sinks[2].position == std::optional<std::string>(""));
    CHECK_FALSE(l->sinks[3].position.has_value());
    CHECK(l->sinks[3].held == s.sinks[3].held);
    s.finished = true;
    st.save(s);
    CHECK(st.load()->finished);
    s.finished = false;
    st.save(s);
  }
  st.discard();
  CHECK_FALSE(st.load().has_value());
}

TEST_CASE("run_state.state_store.one_run_at_a_time") {
  sluice::test::temp_dir d;
  auto first = std::make_unique<state_store>(d / "state");
  try {
    state_store second(d / "state");
    FAIL("a second store opened a locked state directory");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("another sluice run is using") != std::string::npos);
  }
  first.reset();  // the lock goes with the store (and with a dead process)
  state_store third(d / "state");
  CHECK_FALSE(third.load().has_value());
}
