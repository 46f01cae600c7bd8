// The asyncq demo's deterministic schedule, its zero-overhead simulation, the
// output lines, the recorder and the timelines (text and SVG).
#include "sluice/stages/asyncq.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <queue>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "sluice/runtime/gantt.hpp"
#include "sluice/stage/options.hpp"

namespace sluice::stages::asyncq {

// ---------------------------------------------------------------- streams

stream::stream(std::uint64_t seed, role r, std::uint32_t index) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed & 0xffffffffu),
                    static_cast<std::uint32_t>(seed >> 32), static_cast<std::uint32_t>(r), index};
  engine_.seed(seq);
}

int stream::randint(int low, int high) {
  if (low > high) {
    throw std::invalid_argument("randint: low > high");
  }
  // Rejection sampling: the same numbers with every standard library, and no
  // modulo bias.
  const std::uint64_t range = static_cast<std::uint64_t>(high - low) + 1;
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;
  std::uint64_t x = engine_();
  while (x >= limit) {
    x = engine_();
  }
  return low + static_cast<int>(x % range);
}

std::string stream::hex5() {
  return fmt::format("{:010x}", engine_() & 0xffffffffffULL);
}

std::optional<int_range> parse_int_range(std::string_view text) {
  auto parse_int = [](std::string_view t) -> std::optional<int> {
    if (t.empty() || t.size() > 10) {
      return std::nullopt;
    }
    long long v = 0;
    for (char ch : t) {
      if (ch < '0' || ch > '9') {
        return std::nullopt;
      }
      v = v * 10 + (ch - '0');
    }
    if (v > 1'000'000'000) {
      return std::nullopt;
    }
    return static_cast<int>(v);
  };
  const auto [low, high] = split_range(text);
  auto lo = parse_int(low);
  auto hi = parse_int(high);
  if (!lo || !hi || *lo > *hi) {
    return std::nullopt;
  }
  return int_range{*lo, *hi};
}

producer_plan make_producer_plan(std::uint64_t seed, std::uint32_t index, int_range count,
                                 int_range sleep) {
  producer_plan plan;
  stream s(seed, role::producer, index);
  stream names(seed, role::item_name, index);
  const int n = s.randint(count.low, count.high);
  for (int k = 0; k < n; ++k) {
    plan.sleeps.push_back(s.randint(sleep.low, sleep.high));
    plan.names.push_back(names.hex5());
  }
  return plan;
}

producer_plan make_producer_plan(std::uint64_t seed, std::uint32_t index) {
  return make_producer_plan(seed, index, int_range{0, 10}, int_range{0, 10});
}

// ------------------------------------------------------------- simulation

std::uint32_t simulation::number_of(std::uint32_t producer, std::uint32_t seq) const {
  if (producer < numbers.size() && seq < numbers[producer].size()) {
    return numbers[producer][seq];
  }
  return 0;
}

namespace {

// The front of `q`, removed, or nullopt when `q` is empty.
std::optional<std::uint32_t> take_front(std::deque<std::uint32_t>& q) {
  if (q.empty()) {
    return std::nullopt;
  }
  const auto v = q.front();
  q.pop_front();
  return v;
}

simulation run_simulation(const params& p, std::vector<producer_plan> plans,
                          const std::function<int(std::uint32_t)>& next_sleep) {
  simulation sim;
  sim.p = p;
  sim.producers = std::move(plans);
  sim.numbers.resize(sim.producers.size());
  for (std::size_t i = 0; i < sim.producers.size(); ++i) {
    sim.numbers[i].assign(sim.producers[i].sleeps.size(), 0);
  }

  // (tick, scheduling order, is_consumer, index): events at the same tick run
  // in the order they were scheduled, as in a single-threaded event loop.
  using wake = std::tuple<std::int64_t, std::uint64_t, bool, std::uint32_t>;
  std::priority_queue<wake, std::vector<wake>, std::greater<>> pending;
  std::uint64_t order = 0;
  std::mt19937_64 tie_rng(p.tie_order);
  auto key = [&]() -> std::uint64_t { return p.tie_order ? tie_rng() : order++; };
  auto emit = [&](std::int64_t tick, event_kind kind, std::uint32_t who, std::uint32_t item,
                  int secs) {
    sim.events.push_back({static_cast<double>(tick) * p.scale, kind, who, item, secs});
  };

  const auto nprod = static_cast<std::uint32_t>(sim.producers.size());
  std::vector<std::size_t> next_put(nprod, 0);
  std::uint32_t producers_done = 0;
  for (std::uint32_t i = 0; i < nprod; ++i) {
    const auto& plan = sim.producers[i];
    if (plan.sleeps.empty()) {
      ++producers_done;
      continue;
    }
    emit(0, event_kind::producer_sleep, i, 0, plan.sleeps[0]);
    pending.emplace(plan.sleeps[0], key(), false, i);
  }
  auto consumer_sleep = [&](std::int64_t tick, std::uint32_t c) {
    const int s = next_sleep(c);
    emit(tick, event_kind::consumer_sleep, c, 0, s);
    pending.emplace(tick + s, key(), true, c);
  };
  for (std::uint32_t c = 0; c < p.consumers; ++c) {
    consumer_sleep(0, c);
  }

  std::deque<std::uint32_t> fifo;
  std::deque<std::uint32_t> waiters;
  std::uint64_t gets = 0;
  auto deliver = [&](std::int64_t tick, std::uint32_t c, std::uint32_t number) {
    emit(tick, event_kind::got, c, number, 0);
    ++gets;
    // task_done, then straight back to the loop: the next sleep is drawn (and
    // printed) even when this get joined the queue, as in asyncq.py.
    consumer_sleep(tick, c);
  };
  auto finished = [&] { return producers_done == nprod && gets == sim.items.size(); };

  std::int64_t now = 0;
  while (!finished() && !pending.empty()) {
    auto [tick, seq, is_consumer, who] = pending.top();
    pending.pop();
    now = tick;
    if (!is_consumer) {
      auto& k = next_put[who];
      const auto& plan = sim.producers[who];
      const auto number = static_cast<std::uint32_t>(sim.items.size() + 1);
      sim.items.push_back({who, static_cast<std::uint32_t>(k), plan.names[k]});
      sim.numbers[who][k] = number;
      emit(tick, event_kind::put, who, number, 0);
      if (auto c = take_front(waiters)) {
        deliver(tick, *c, number);
      } else {
        fifo.push_back(number);
      }
      ++k;
      if (k < plan.sleeps.size()) {
        emit(tick, event_kind::producer_sleep, who, 0, plan.sleeps[k]);
        pending.emplace(tick + plan.sleeps[k], key(), false, who);
      } else {
        ++producers_done;
      }
    } else {
      emit(tick, event_kind::wait, who, 0, 0);
      if (auto number = take_front(fifo)) {
        deliver(tick, who, *number);
      } else {
        waiters.push_back(who);
      }
    }
  }
  for (std::uint32_t c = 0; c < p.consumers; ++c) {
    emit(now, event_kind::cancelled, c, 0, 0);
  }
  sim.completion_ticks = now;
  sim.completion_s = static_cast<double>(now) * p.scale;
  return sim;
}

}  // namespace

simulation simulate(const params& p) {
  std::vector<producer_plan> plans;
  plans.reserve(p.producers);
  for (std::uint32_t i = 0; i < p.producers; ++i) {
    plans.push_back(make_producer_plan(p.seed, i));
  }
  std::vector<consumer_plan> consumers;
  consumers.reserve(p.consumers);
  for (std::uint32_t c = 0; c < p.consumers; ++c) {
    consumers.emplace_back(p.seed, c);
  }
  return run_simulation(p, std::move(plans),
                        [&](std::uint32_t c) { return consumers[c].next_sleep(); });
}

std::pair<double, double> ideal_range(params p, int tries) {
  p.tie_order = 0;
  const double base = simulate(p).completion_s;
  double lo = base, hi = base;
  for (int k = 1; k <= tries; ++k) {
    p.tie_order = static_cast<std::uint64_t>(k);
    const double v = simulate(p).completion_s;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return {lo, hi};
}

simulation simulate(const params& p, std::vector<producer_plan> producers,
                    const std::vector<std::vector<int>>& consumer_sleeps) {
  for (auto& plan : producers) {
    while (plan.names.size() < plan.sleeps.size()) {
      plan.names.push_back(fmt::format("{:010x}", plan.names.size()));
    }
  }
  std::vector<std::size_t> used(p.consumers, 0);
  return run_simulation(p, std::move(producers), [&](std::uint32_t c) {
    if (c < consumer_sleeps.size() && used[c] < consumer_sleeps[c].size()) {
      return consumer_sleeps[c][used[c]++];
    }
    return 0;
  });
}

// ------------------------------------------------------------------ lines

std::string producer_sleep_line(std::uint32_t producer, int secs) {
  return fmt::format("Producer {} sleeping for {} seconds.", producer, secs);
}

std::string put_line(std::uint32_t producer, std::string_view name) {
  return fmt::format("Producer {} added <{}> to queue.", producer, name);
}

std::string consumer_sleep_line(std::uint32_t consumer, int secs) {
  return fmt::format("Consumer {} sleeping for {} seconds.", consumer, secs);
}

std::string got_line(std::uint32_t consumer, std::string_view name, double seconds_in_queue) {
  return fmt::format("Consumer {} got element <{}> in {:.5f} seconds.", consumer, name,
                     seconds_in_queue);
}

std::string completed_line(double seconds) {
  return fmt::format("Program completed in {:.5f} seconds.", seconds);
}

void print_line(std::string_view line) {
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line);
  buf.push_back('\n');
  // One fwrite holds stdout's lock for the whole line.
  std::fwrite(buf.data(), 1, buf.size(), stdout);
  std::fflush(stdout);
}

// --------------------------------------------------------------- recorder

void recorder::record(entry e) {
  std::lock_guard lock(mutex_);
  entries_.push_back(e);
}

std::vector<recorder::entry> recorder::entries() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

std::vector<event> recorder::events(const simulation& sim) const {
  std::vector<event> out;
  for (const auto& e : entries()) {
    event ev;
    ev.t = std::chrono::duration<double>(e.at - start_).count();
    ev.kind = e.kind;
    ev.who = e.who;
    ev.secs = e.secs;
    if (e.kind == event_kind::put || e.kind == event_kind::got) {
      ev.item = sim.number_of(e.producer, e.seq);
    }
    out.push_back(ev);
  }
  return out;
}

namespace {
std::shared_ptr<recorder>& recorder_slot() {
  static std::shared_ptr<recorder> slot;
  return slot;
}
}  // namespace

void install_recorder(std::shared_ptr<recorder> r) {
  recorder_slot() = std::move(r);
}

recorder* current_recorder() noexcept {
  return recorder_slot().get();
}

// --------------------------------------------------------------- timeline

timeline make_timeline(const std::vector<event>& events, std::uint32_t producers,
                       std::uint32_t consumers, double duration) {
  timeline tl;
  tl.duration = duration;
  for (std::uint32_t i = 0; i < producers; ++i) {
    tl.producers.push_back({fmt::format("Producer {}", i), {}, {}});
  }
  for (std::uint32_t i = 0; i < consumers; ++i) {
    tl.consumers.push_back({fmt::format("Consumer {}", i), {}, {}});
  }
  // An open span per lane (start time, waiting), closed by the lane's next event.
  std::vector<std::optional<span>> open_p(producers), open_c(consumers);
  auto close = [&](std::optional<span>& open, lane& l, double t) {
    if (open) {
      open->end = std::max(open->start, t);
      l.spans.push_back(*open);
      open.reset();
    }
  };
  for (const auto& e : events) {
    const bool is_producer = e.kind == event_kind::producer_sleep || e.kind == event_kind::put;
    if (e.who >= (is_producer ? producers : consumers)) {
      continue;
    }
    // Every event ends its lane's open span; then it opens one or marks an item.
    auto& open = is_producer ? open_p[e.who] : open_c[e.who];
    auto& l = is_producer ? tl.producers[e.who] : tl.consumers[e.who];
    close(open, l, e.t);
    switch (e.kind) {
      case event_kind::producer_sleep:
      case event_kind::consumer_sleep:
        open = span{e.t, e.t, false};
        break;
      case event_kind::wait:
        open = span{e.t, e.t, true};
        break;
      case event_kind::put:
      case event_kind::got:
        l.marks.push_back({e.t, e.item});
        break;
      case event_kind::cancelled:
        break;
    }
  }
  for (std::uint32_t i = 0; i < producers; ++i) {
    close(open_p[i], tl.producers[i], duration);
  }
  for (std::uint32_t i = 0; i < consumers; ++i) {
    close(open_c[i], tl.consumers[i], duration);
  }
  return tl;
}

namespace {

constexpr std::uint16_t sleeping_style = 0;
constexpr std::uint16_t waiting_style = 1;

/// The lanes of `tl` as Gantt lanes: spans as bars, item gets as marks.
void add_lanes(gantt::chart& c, const std::vector<lane>& lanes, const char* klass) {
  for (const auto& l : lanes) {
    gantt::lane g{l.label, klass, {}, {}};
    for (const auto& sp : l.spans) {
      g.bars.push_back({sp.start, sp.end, sp.waiting ? waiting_style : sleeping_style, "",
                        fmt::format("{} {} {:.5f}..{:.5f} s", l.label,
                                    sp.waiting ? "waiting" : "sleeping", sp.start, sp.end)});
    }
    for (const auto& m : l.marks) {
      g.marks.push_back({m.t, std::to_string(m.item)});
    }
    c.lanes.push_back(std::move(g));
  }
}

gantt::chart make_chart(const timeline& tl) {
  gantt::chart c;
  c.duration = tl.duration;
  c.styles = {{"sleeping", "sleeping", "#8ecae6", '.'},
              {"waiting in get", "waiting", "#f4a259", '-'}};
  c.mark_name = "item got";
  c.text_legend = "N = item N got, - waiting in get, . sleeping";
  return c;
}

}  // namespace

std::vector<std::string> render_timeline_text(const timeline& tl, int width) {
  auto c = make_chart(tl);
  add_lanes(c, tl.consumers, "consumer");
  return gantt::render_text(c, width);
}

int terminal_width() {
  return gantt::terminal_width(STDOUT_FILENO);
}

std::string xml_escape(std::string_view text) {
  return gantt::xml_escape(text);
}

std::string render_timeline_svg(const timeline& tl, std::string_view title) {
  auto c = make_chart(tl);
  c.title = std::string(title);
  add_lanes(c, tl.producers, "producer");
  add_lanes(c, tl.consumers, "consumer");
  return gantt::render_svg(c);
}

}  // namespace sluice::stages::asyncq
