// `sluice bench`: the asyncio producer/consumer timing demo as a pipeline of
// built-in stages (random_items -> bounded queue -> asyncq_sleep workers ->
// queue_time), with the ideal time of its schedule and the overhead; and a
// throughput mode that moves zero-work items through the bounded queue.
#include <sys/prctl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "commands.hpp"
#include "sluice/config/config.hpp"
#include "sluice/runtime/runtime.hpp"
#include "sluice/stage/options.hpp"
#include "sluice/stages/asyncq.hpp"

namespace sluice::cli {

namespace {

struct bench_options {
  std::uint32_t producers = 5;
  std::uint32_t consumers = 10;
  std::uint64_t seed = 444;
  double scale = 1.0;
  bool quiet = false;
  bool timeline = false;
  std::string timeline_svg;
  bool no_sleep = false;
  std::uint64_t items = 1'000'000;
  std::size_t capacity = 1000;
  unsigned threads = 0;
  bool json = false;
};

/// The demo pipeline as YAML: what pipelines/asyncq.yaml holds, with the
/// command line's numbers. bench runs it through the ordinary loader and
/// runtime, so it is the same engine `sluice run` uses.
std::string demo_pipeline_yaml(const bench_options& o, std::uint64_t capacity) {
  std::string y;
  y += "name: asyncq\n";
  y += fmt::format("threads: {}\n", o.threads == 0 ? 1 : o.threads);
  if (o.producers == 0) {
    y += "producers: []\n";
  } else {
    y += "producers:\n";
  }
  for (std::uint32_t i = 0; i < o.producers; ++i) {
    y += fmt::format(
        "  - type: random_items\n    index: {}\n    seed: {}\n    scale: {:.17g}\n    quiet: {}\n", i,
        o.seed, o.scale, o.quiet);
  }
  y += fmt::format("queue:\n  capacity: {}\n", capacity);
  y += fmt::format(
      "consumers:\n  type: asyncq_sleep\n  workers: {}\n  seed: {}\n  scale: {:.17g}\n  quiet: "
      "{}\n",
      o.consumers, o.seed, o.scale, o.quiet);
  y += fmt::format("sinks:\n  - type: queue_time\n    quiet: {}\n", o.quiet);
  return y;
}

int run_demo(app_state& state, const bench_options& o) {
  asyncq::params p;
  p.producers = o.producers;
  p.consumers = o.consumers;
  p.seed = o.seed;
  p.scale = o.scale;
  const asyncq::simulation sim = asyncq::simulate(p);
  const auto [ideal_lo, ideal_hi] = asyncq::ideal_range(p, 32);

  // The queue holds every item, as asyncq.py's unbounded asyncio.Queue does,
  // so a producer never waits on it (the simulation assumes that).
  const std::uint64_t capacity = std::max<std::uint64_t>(1, sim.total_items());
  const std::string yaml = demo_pipeline_yaml(o, capacity);
  load_options lopts;
  load_result loaded = load_pipeline_text(yaml, "<sluice bench>", *state.reg, lopts);
  if (!loaded.config) {
    for (const auto& d : loaded.diagnostics) {
      std::fputs(format_diagnostic(d).c_str(), stderr);
      std::fputc('\n', stderr);
    }
    return 2;
  }

  // Timer slack is inherited by the threads the runtime starts: 1 ns instead
  // of Linux's default 50 us, so a timer wakes when it is due.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  auto rec = std::make_shared<asyncq::recorder>();
  asyncq::install_recorder(rec);
  run_options ropts;
  ropts.handle_signals = true;
  ropts.progress = false;
  const auto t0 = clock::now();
  rec->start(t0);
  run_report report = run_pipeline(*loaded.config, ropts);
  const auto t1 = clock::now();
  asyncq::install_recorder(nullptr);
  if (report.exit_code != 0) {
    std::fputs(report.to_text().c_str(), stderr);
    return report.exit_code;
  }

  const double measured = std::chrono::duration<double>(t1 - t0).count();
  if (o.timeline || !o.timeline_svg.empty()) {
    const auto tl = asyncq::make_timeline(rec->events(sim), o.producers, o.consumers, measured);
    if (o.timeline) {
      for (const auto& row : asyncq::render_timeline_text(tl, asyncq::terminal_width())) {
        asyncq::print_line(row);
      }
    }
    if (!o.timeline_svg.empty()) {
      std::ofstream f(o.timeline_svg, std::ios::binary | std::ios::trunc);
      f << asyncq::render_timeline_svg(
          tl, fmt::format("sluice bench -p {} -c {} --seed {} --scale {:g}: {:.5f} s (ideal {:.5f} s)",
                          o.producers, o.consumers, o.seed, o.scale, measured, sim.completion_s));
      if (!f.flush()) {
        std::fprintf(stderr, "sluice bench: cannot write %s\n", o.timeline_svg.c_str());
        return 1;
      }
    }
  }
  asyncq::print_line(fmt::format("Ideal completion in {:.5f} seconds ({} items; zero-overhead "
                                 "simulation of the same schedule).",
                                 sim.completion_s, sim.total_items()));
  if (ideal_hi > ideal_lo) {
    asyncq::print_line(
        fmt::format("Note: simultaneous events make the ideal depend on their order: {:.5f} to "
                    "{:.5f} seconds.",
                    ideal_lo, ideal_hi));
  }
  asyncq::print_line(fmt::format("Overhead: {:.5f} seconds ({:.3f} ms).",
                                 measured - sim.completion_s, (measured - sim.completion_s) * 1e3));
  asyncq::print_line(asyncq::completed_line(measured));
  return 0;
}

int run_throughput_mode(const bench_options& o) {
  asyncq::throughput_params p;
  p.items = o.items;
  p.producers = o.producers;
  p.consumers = o.consumers;
  p.capacity = o.capacity;
  p.threads = o.threads;
  const auto r = asyncq::run_throughput(p);
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
    j["time_in_queue_ns"] = {{"p50", r.p50_ns}, {"p90", r.p90_ns}, {"p99", r.p99_ns},
                             {"max", r.max_ns}};
    asyncq::print_line(boost::json::serialize(j));
    return 0;
  }
  asyncq::print_line(fmt::format(
      "bench: {} items, {} producers, {} consumers, capacity {}, {} threads, no sleep", r.items,
      o.producers, o.consumers, o.capacity, r.threads));
  asyncq::print_line(fmt::format("Throughput: {:.0f} items/s ({} items in {:.5f} seconds)",
                                 r.items_per_s, r.consumed, r.seconds));
  asyncq::print_line(fmt::format(
      "Time in queue (every 64th item): p50 {}  p90 {}  p99 {}  max {}",
      format_duration(std::chrono::nanoseconds(r.p50_ns)),
      format_duration(std::chrono::nanoseconds(r.p90_ns)),
      format_duration(std::chrono::nanoseconds(r.p99_ns)),
      format_duration(std::chrono::nanoseconds(r.max_ns))));
  asyncq::print_line(fmt::format("Queue high-water mark: {} of {}", r.high_water, o.capacity));
  return r.consumed == r.items ? 0 : 1;
}

}  // namespace

void add_bench_command(CLI::App& app, app_state& state) {
  auto o = std::make_shared<bench_options>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "The asyncio producer/consumer timing demo over sluice's queue: a deterministic schedule, "
      "its ideal time and the overhead; or, with --no-sleep, queue throughput");
  cmd->add_option("-p,--producers", o->producers, "producers")
      ->check(CLI::Range(0u, 100000u));
  cmd->add_option("-c,--consumers", o->consumers, "consumers")
      ->check(CLI::Range(1u, 100000u));
  cmd->add_option("--seed", o->seed, "seed of the schedule's random streams")
      ->capture_default_str();
  cmd->add_option("--scale", o->scale, "multiply every sleep by this (1.0 = the original demo)")
      ->check(CLI::Range(0.0, 1000.0))
      ->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "do not print the per-event lines");
  cmd->add_flag("--timeline", o->timeline,
                "after the run, print one row per consumer fitted to the terminal width");
  cmd->add_option("--timeline-svg", o->timeline_svg,
                  "write the run as an SVG Gantt chart (a lane per producer and consumer)");
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
  cmd->add_flag("--json", o->json, "throughput mode: print the figures as one JSON object")
      ->needs(no_sleep);
  cmd->callback([&state, o] {
    state.exit_code = o->no_sleep ? run_throughput_mode(*o) : run_demo(state, *o);
  });
}

}  // namespace sluice::cli
