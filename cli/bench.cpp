// `sluice bench`: the asyncio producer/consumer timing demo as a pipeline of
// built-in stages (random_items -> bounded queue -> asyncq_sleep workers ->
// queue_time), with the ideal time of its schedule and the overhead; and a
// throughput mode that moves zero-work items through the bounded queue.
#include <sys/prctl.h>

#include <sched.h>
#include <algorithm>
#include <chrono>
#include <cstdint>

#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "commands.hpp"
#include "sluice/config/config.hpp"
#include "sluice/core/json_text.hpp"
#include "sluice/runtime/runtime.hpp"
#include "sluice/stage/options.hpp"
#include "sluice/stages/asyncq.hpp"

namespace sluice::cli {

namespace {

// The demo's defaults are stages::asyncq::params', stated there once.
struct bench_options {
  std::uint32_t producers = stages::asyncq::params{}.producers;
  std::uint32_t consumers = stages::asyncq::params{}.consumers;
  /// Signed: a pipeline's integers are int64.
  std::int64_t seed = static_cast<std::int64_t>(stages::asyncq::params{}.seed);
  double scale = stages::asyncq::params{}.scale;
  bool quiet = false;
  bool timeline = false;
  std::string timeline_svg;
  bool no_sleep = false;
  std::uint64_t items = 1'000'000;
  std::size_t capacity = 1000;
  unsigned threads = 0;
  bool json = false;
  std::string trace;
  bool warmup = true;
  bool realtime = true;
  bool via_pipeline = false;
  std::string spin = "200us";
};

const char* kind_name(stages::asyncq::event_kind k) {
  switch (k) {
    case stages::asyncq::event_kind::producer_sleep:
      return "producer_sleep";
    case stages::asyncq::event_kind::put:
      return "put";
    case stages::asyncq::event_kind::consumer_sleep:
      return "consumer_sleep";
    case stages::asyncq::event_kind::wait:
      return "wait";
    case stages::asyncq::event_kind::got:
      return "got";
    case stages::asyncq::event_kind::cancelled:
      return "cancelled";
  }
  return "?";
}

/// One JSON object per line: the run's recorded events in the order they were
/// recorded, then the run's end (`end`, after run_pipeline returned) and the
/// ideal time.
bool write_trace(const std::string& path, const std::vector<stages::asyncq::event>& events,
                 double measured, double ideal) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  for (const auto& e : events) {
    boost::json::object j;
    j["t"] = e.t;
    j["kind"] = kind_name(e.kind);
    j["who"] = e.who;
    j["item"] = e.item;
    j["secs"] = e.secs;
    f << sluice::to_json_text(j) << '\n';
  }
  boost::json::object end;
  end["t"] = measured;
  end["kind"] = "end";
  end["ideal"] = ideal;
  f << sluice::to_json_text(end) << '\n';
  return static_cast<bool>(f.flush());
}

/// The demo pipeline as YAML: what pipelines/asyncq.yaml holds, with the
/// command line's numbers. bench runs it through the ordinary loader and
/// runtime, so it is the same engine `sluice run` uses.
/// `count` (when not empty) overrides the producers' randint(0,10) item count.
std::string demo_pipeline_yaml(const bench_options& o, std::uint64_t capacity,
                               const std::string& count = {}) {
  std::string y;
  y += "name: asyncq\n";
  y += fmt::format("threads: {}\n", o.threads == 0 ? 1 : o.threads);
  y += "producers:\n";
  for (std::uint32_t i = 0; i < o.producers; ++i) {
    y += fmt::format(
        "  - type: random_items\n    index: {}\n    seed: {}\n    scale: {:.17g}\n    spin: {}\n"
        "    quiet: {}\n",
        i, o.seed, o.scale, o.spin, o.quiet);
    if (!count.empty()) {
      y += fmt::format("    count: \"{}\"\n", count);
    }
  }
  y += fmt::format("queue:\n  capacity: {}\n", capacity);
  y += fmt::format(
      "consumers:\n  type: asyncq_sleep\n  workers: {}\n  seed: {}\n  scale: {:.17g}\n  spin: {}\n"
      "  quiet: {}\n",
      o.consumers, o.seed, o.scale, o.spin, o.quiet);
  y += fmt::format("sinks:\n  - type: queue_time\n    quiet: {}\n", o.quiet);
  return y;
}

/// Loads a generated pipeline; prints its diagnostics and returns no config
/// when it does not load (a bug in the generator: exit 2).
std::optional<pipeline_config> load_generated(app_state& state, const std::string& yaml,
                                              const std::string& name) {
  load_result loaded = load_pipeline_text(yaml, name, *state.reg, load_options{});
  for (const auto& d : loaded.diagnostics) {
    std::fputs(format_diagnostic(d).c_str(), stderr);
    std::fputc('\n', stderr);
  }
  return std::move(loaded.config);
}

/// Writes the --trace, --timeline and --timeline-svg outputs; false after
/// saying which file could not be written.
bool write_demo_outputs(const bench_options& o, const std::vector<stages::asyncq::event>& events,
                        const stages::asyncq::simulation& sim, double measured) {
  if (!o.trace.empty() && !write_trace(o.trace, events, measured, sim.completion_s)) {
    std::fprintf(stderr, "sluice bench: cannot write %s\n", o.trace.c_str());
    return false;
  }
  if (!o.timeline && o.timeline_svg.empty()) {
    return true;
  }
  const auto tl = stages::asyncq::make_timeline(events, o.producers, o.consumers, measured);
  if (o.timeline) {
    for (const auto& row :
         stages::asyncq::render_timeline_text(tl, stages::asyncq::terminal_width())) {
      stages::asyncq::print_line(row);
    }
  }
  if (!o.timeline_svg.empty()) {
    std::ofstream f(o.timeline_svg, std::ios::binary | std::ios::trunc);
    f << stages::asyncq::render_timeline_svg(
        tl,
        fmt::format("sluice bench -p {} -c {} --seed {} --scale {:g}: {:.5f} s (ideal {:.5f} s)",
                    o.producers, o.consumers, o.seed, o.scale, measured, sim.completion_s));
    if (!f.flush()) {
      std::fprintf(stderr, "sluice bench: cannot write %s\n", o.timeline_svg.c_str());
      return false;
    }
  }
  return true;
}

/// Where the overhead went: before the first stage event (pipeline start),
/// between it and the last get beyond the ideal (timer and hand-off
/// latency), and from the last get to run_pipeline's return (join, cancel,
/// sink flush, teardown).
std::string overhead_breakdown(const std::vector<stages::asyncq::event>& events,
                               const stages::asyncq::simulation& sim, double measured, bool fifo) {
  std::string breakdown;
  if (!events.empty() && sim.total_items() > 0) {
    double last_got = -1;
    for (const auto& e : events) {
      if (e.kind == stages::asyncq::event_kind::got) {
        last_got = std::max(last_got, e.t);
      }
    }
    if (last_got >= 0) {
      const double start = events.front().t;
      breakdown =
          fmt::format(": start {:.3f} ms, run {:.3f} ms, shutdown {:.3f} ms", start * 1e3,
                      (last_got - start - sim.completion_s) * 1e3, (measured - last_got) * 1e3);
    }
  }
  return breakdown + (fifo ? "; SCHED_FIFO" : "; SCHED_OTHER");
}

int run_demo(app_state& state, const bench_options& o) {
  stages::asyncq::params p;
  p.producers = o.producers;
  p.consumers = o.consumers;
  p.seed = static_cast<std::uint64_t>(o.seed);
  p.scale = o.scale;
  const stages::asyncq::simulation sim = stages::asyncq::simulate(p);
  const auto [ideal_lo, ideal_hi] = stages::asyncq::ideal_range(p, 32);

  // The queue holds every item, as asyncq.py's unbounded asyncio.Queue does,
  // so a producer never waits on it (the simulation assumes that).
  const std::uint64_t capacity = std::max<std::uint64_t>(1, sim.total_items());
  auto config = load_generated(state, demo_pipeline_yaml(o, capacity), "<sluice bench>");
  if (!config) {
    return 2;
  }

  // Timer slack is inherited by the threads the runtime starts: 1 ns instead
  // of Linux's default 50 us, so a timer wakes when it is due.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  if (o.warmup) {
    // One empty run of the same pipeline first: it pays for dynamic symbol
    // binding and first-touch page faults, so the measured run shows the
    // steady cost of the machinery. --no-warmup measures a cold start.
    bench_options empty = o;
    empty.producers = 1;
    empty.quiet = true;
    auto warm = load_generated(state, demo_pipeline_yaml(empty, 1, "0"), "<sluice bench warm-up>");
    if (!warm) {
      return 2;
    }
    run_options wopts;
    wopts.handle_signals = false;
    run_pipeline(*warm, wopts);
  }

  // Threads inherit the policy: the runtime's threads run SCHED_FIFO too, so
  // other processes on a busy machine do not delay a due timer. Without the
  // privilege the run goes on under the normal policy (the Overhead line says
  // which one measured).
  bool fifo = false;
  if (o.realtime) {
    sched_param sp{};
    sp.sched_priority = 10;
    fifo = ::sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
  }

  auto rec = std::make_shared<stages::asyncq::recorder>();
  stages::asyncq::install_recorder(rec);
  run_options ropts;
  ropts.handle_signals = true;
  ropts.progress = false;
  const auto t0 = clock::now();
  rec->start(t0);
  run_report report = run_pipeline(*config, ropts);
  const auto t1 = clock::now();
  stages::asyncq::install_recorder(nullptr);
  if (fifo) {
    sched_param sp{};
    ::sched_setscheduler(0, SCHED_OTHER, &sp);
  }
  if (report.exit_code != 0) {
    std::fputs(report.to_text().c_str(), stderr);
    return report.exit_code;
  }

  const double measured = std::chrono::duration<double>(t1 - t0).count();
  const auto events = rec->events(sim);
  if (!write_demo_outputs(o, events, sim, measured)) {
    return 1;
  }
  stages::asyncq::print_line(
      fmt::format("Ideal completion in {:.5f} seconds ({} items; zero-overhead "
                  "simulation of the same schedule).",
                  sim.completion_s, sim.total_items()));
  if (ideal_hi > ideal_lo) {
    stages::asyncq::print_line(
        fmt::format("Note: simultaneous events make the ideal depend on their order: {:.5f} to "
                    "{:.5f} seconds.",
                    ideal_lo, ideal_hi));
  }
  const std::string breakdown = overhead_breakdown(events, sim, measured, fifo);
  stages::asyncq::print_line(fmt::format("Overhead: {:.5f} seconds ({:.3f} ms{}).",
                                         measured - sim.completion_s,
                                         (measured - sim.completion_s) * 1e3, breakdown));
  stages::asyncq::print_line(stages::asyncq::completed_line(measured));
  return 0;
}

/// Throughput through the whole runtime: random_items producers with no
/// sleep, the core `sleep` consumer with no delay, the `null` sink.
int run_pipeline_throughput(app_state& state, const bench_options& o) {
  std::string y = "name: bench-throughput\n";
  if (o.threads != 0) {
    y += fmt::format("threads: {}\n", o.threads);
  }
  y += "producers:\n";
  for (std::uint32_t i = 0; i < o.producers; ++i) {
    const std::uint64_t n = o.items / o.producers + (i < o.items % o.producers ? 1 : 0);
    y += fmt::format(
        "  - {{type: random_items, index: {}, seed: {}, count: \"{}\", sleep: \"0\", quiet: "
        "true}}\n",
        i, o.seed, n);
  }
  y += fmt::format("queue:\n  capacity: {}\n", o.capacity);
  y += fmt::format("consumers:\n  type: sleep\n  workers: {}\n  delay: 0ms\n", o.consumers);
  y += "sinks:\n  - type: \"null\"\n";
  auto config = load_generated(state, y, "<sluice bench --pipeline>");
  if (!config) {
    return 2;
  }
  run_options ropts;
  const auto t0 = clock::now();
  const run_report r = run_pipeline(*config, ropts);
  const double wall = std::chrono::duration<double>(clock::now() - t0).count();
  if (r.exit_code != 0) {
    std::fputs(r.to_text().c_str(), stderr);
    return r.exit_code;
  }
  const double rate = wall > 0 ? static_cast<double>(r.consumed) / wall : 0;
  if (o.json) {
    boost::json::object j;
    j["tool"] = "sluice pipeline";
    j["p"] = o.producers;
    j["c"] = o.consumers;
    j["capacity"] = o.capacity;
    j["threads"] = config->threads;
    j["items"] = r.consumed;
    j["wall_s"] = wall;
    j["items_per_s"] = rate;
    j["queue_high_water"] = r.queue_high_water;
    j["time_in_queue_ns"] = {{"p50", r.time_in_queue.p50},
                             {"p90", r.time_in_queue.p90},
                             {"p99", r.time_in_queue.p99},
                             {"max", r.time_in_queue.max}};
    stages::asyncq::print_line(sluice::to_json_text(j));
    return 0;
  }
  stages::asyncq::print_line(fmt::format(
      "bench: {} items through the pipeline (random_items -> sleep 0ms -> null), {} producers, "
      "{} workers, capacity {}, {} threads",
      r.consumed, o.producers, o.consumers, o.capacity, config->threads));
  stages::asyncq::print_line(fmt::format("Throughput: {:.0f} items/s ({} items in {:.5f} seconds)",
                                         rate, r.consumed, wall));
  stages::asyncq::print_line(
      fmt::format("Time in queue (every item): p50 {}  p90 {}  p99 {}  max {}",
                  format_duration(std::chrono::nanoseconds(r.time_in_queue.p50)),
                  format_duration(std::chrono::nanoseconds(r.time_in_queue.p90)),
                  format_duration(std::chrono::nanoseconds(r.time_in_queue.p99)),
                  format_duration(std::chrono::nanoseconds(r.time_in_queue.max))));
  stages::asyncq::print_line(
      fmt::format("Queue high-water mark: {} of {}", r.queue_high_water, o.capacity));
  return r.consumed == o.items ? 0 : 1;
}

int run_throughput_mode(const bench_options& o) {
  stages::asyncq::throughput_params p;
  p.items = o.items;
  p.producers = o.producers;
  p.consumers = o.consumers;
  p.capacity = o.capacity;
  p.threads = o.threads;
  const auto r = stages::asyncq::run_throughput(p);
  if (o.json) {
    boost::json::object j;
    j["tool"] = "sluice bounded_queue";
    j["p"] = o.producers;
    j["c"] = o.consumers;
    j["capacity"] = o.capacity;
    j["threads"] = r.threads;
    j["items"] = r.consumed;
    j["wall_s"] = r.seconds;
    j["items_per_s"] = r.items_per_s;
    j["queue_high_water"] = r.high_water;
    j["time_in_queue_ns"] = {
        {"p50", r.p50_ns}, {"p90", r.p90_ns}, {"p99", r.p99_ns}, {"max", r.max_ns}};
    stages::asyncq::print_line(sluice::to_json_text(j));
    return 0;
  }
  stages::asyncq::print_line(
      fmt::format("bench: {} items, {} producers, {} consumers, capacity {}, {} threads, no sleep",
                  r.items, o.producers, o.consumers, o.capacity, r.threads));
  stages::asyncq::print_line(fmt::format("Throughput: {:.0f} items/s ({} items in {:.5f} seconds)",
                                         r.items_per_s, r.consumed, r.seconds));
  stages::asyncq::print_line(
      fmt::format("Time in queue (every 64th item): p50 {}  p90 {}  p99 {}  max {}",
                  format_duration(std::chrono::nanoseconds(r.p50_ns)),
                  format_duration(std::chrono::nanoseconds(r.p90_ns)),
                  format_duration(std::chrono::nanoseconds(r.p99_ns)),
                  format_duration(std::chrono::nanoseconds(r.max_ns))));
  stages::asyncq::print_line(
      fmt::format("Queue high-water mark: {} of {}", r.high_water, o.capacity));
  return r.consumed == r.items ? 0 : 1;
}

}  // namespace

void add_bench_command(CLI::App& app, app_state& state) {
  auto o = std::make_shared<bench_options>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "The asyncio producer/consumer timing demo over sluice's queue: a deterministic schedule, "
      "its ideal time and the overhead; or, with --no-sleep, queue throughput");
  cmd->footer(
      "Examples:\n"
      "  sluice bench -p 2 -c 3 --seed 444 --timeline          # the demo's schedule, drawn\n"
      "  sluice bench --no-sleep --items 10000000 -p 5 -c 100  # queue throughput");
  cmd->add_option("-p,--producers", o->producers, "producers")->check(CLI::Range(1u, 100000u));
  cmd->add_option("-c,--consumers", o->consumers, "consumers")->check(CLI::Range(1u, 100000u));
  cmd->add_option("--seed", o->seed, "seed of the schedule's random streams (0 to 2^63-1)")
      ->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()))
      ->capture_default_str();
  cmd->add_option("--scale", o->scale, "multiply every sleep by this (1.0 = the original demo)")
      ->check(CLI::Range(0.0, 1000.0))
      ->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "do not print the per-event lines");
  cmd->add_flag("--timeline", o->timeline,
                "after the run, print one row per consumer fitted to the terminal width");
  cmd->add_option("--timeline-svg", o->timeline_svg,
                  "write the run as an SVG Gantt chart (a lane per producer and consumer)");
  cmd->add_option("--trace", o->trace,
                  "write every recorded event (and the end) as JSON lines to this file");
  cmd->add_flag("--no-warmup{false}", o->warmup,
                "measure a cold start: skip the empty warm-up run of the pipeline");
  cmd->add_option("--spin", o->spin,
                  "wake this long before each sleep's deadline and yield until it; 0 = timers "
                  "only")
      ->check([](const std::string& v) -> std::string {
        return parse_duration(v) ? "" : "expected a duration such as 200us, 1ms or 0";
      })
      ->capture_default_str();
  cmd->add_flag("--realtime,!--no-realtime", o->realtime,
                "run the demo under SCHED_FIFO when permitted (the default; needs CAP_SYS_NICE) "
                "so a busy machine does not delay timers");
  auto* no_sleep = cmd->add_flag("--no-sleep", o->no_sleep,
                                 "throughput mode: move --items zero-work items, no sleeps");
  cmd->add_option("--items", o->items, "throughput mode: items to move (default 1000000)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1'000'000'000'000}))
      ->needs(no_sleep);
  cmd->add_option("--capacity", o->capacity, "throughput mode: queue capacity (default 1000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}))
      ->needs(no_sleep);
  cmd->add_option("--threads", o->threads,
                  "io_context threads (demo default 1; throughput default: hardware threads)")
      ->check(CLI::Range(0u, 1024u));
  cmd->add_flag("--pipeline", o->via_pipeline,
                "throughput mode: move the items through the whole runtime (random_items -> "
                "sleep 0ms -> null) instead of the bare queue")
      ->needs(no_sleep);
  cmd->add_flag("--json", o->json, "throughput mode: print the figures as one JSON object")
      ->needs(no_sleep);
  cmd->callback([&state, o] {
    if (!o->no_sleep) {
      state.exit_code = run_demo(state, *o);
    } else if (o->via_pipeline) {
      state.exit_code = run_pipeline_throughput(state, *o);
    } else {
      state.exit_code = run_throughput_mode(*o);
    }
  });
}

}  // namespace sluice::cli
