// The asyncio producer/consumer timing demo (realpython's asyncq.py) as
// sluice stages, plus the pieces `sluice bench` builds on: the deterministic
// schedule, the zero-overhead simulation of it, the demo's output lines, a
// trace recorder, and the text and SVG timelines.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/core/item.hpp"
#include "sluice/stage/registry.hpp"

namespace sluice {

/// Registers the demo's stages: producer `random_items`, consumer
/// `asyncq_sleep` and sink `queue_time`.
/// Thread safety: as registry::add.
void register_asyncq_stages(registry& reg);

}  // namespace sluice

namespace sluice::stages::asyncq {

/// Which random stream: every producer, every consumer and every producer's
/// item names get their own stream, so a draw never depends on event order.
enum class role : std::uint32_t { producer = 1, consumer = 2, item_name = 3 };

/// One deterministic random stream: std::mt19937_64 seeded through a
/// std::seed_seq of (seed low 32 bits, seed high 32 bits, role, index). Both
/// algorithms are fully specified by the C++ standard, and randint uses its own
/// rejection sampling (std::uniform_int_distribution is implementation-defined),
/// so a seed gives the same numbers with every standard library.
/// Thread safety: a plain value; one user at a time.
class stream {
 public:
  stream(std::uint64_t seed, role r, std::uint32_t index);

  /// A uniformly random integer in [low, high], both inclusive (Python's randint).
  /// Precondition: low <= high.
  int randint(int low, int high);

  /// A random 5-byte name as 10 lowercase hex digits (asyncq.py's makeitem()).
  std::string hex5();

 private:
  std::mt19937_64 engine_;
};

/// What one producer will do: `sleeps[k]` seconds (before scaling) before
/// putting item k, whose name is `names[k]`. `sleeps.size()` is randint(0,10).
/// Thread safety: a plain value.
struct producer_plan {
  std::vector<int> sleeps;
  std::vector<std::string> names;
};

/// The plan of producer `index` under `seed`: its item count and every sleep
/// come from stream(seed, producer, index), in that order; the names from
/// stream(seed, item_name, index).
/// Thread safety: a pure function.
producer_plan make_producer_plan(std::uint64_t seed, std::uint32_t index);

/// An inclusive integer range `low..high` (randint) or a single number `n`.
struct int_range {
  int low = 0;
  int high = 10;
};

/// Parses `n` or `low..high` (0 <= low <= high <= 1,000,000,000); nullopt otherwise.
std::optional<int_range> parse_int_range(std::string_view text);

/// Generalised producer plan: the item count is randint(count) and every sleep
/// randint(sleep), drawn in that order from the same streams.
producer_plan make_producer_plan(std::uint64_t seed, std::uint32_t index, int_range count,
                                 int_range sleep);

/// The endless sleep sequence of one consumer: stream(seed, consumer, index),
/// one randint(0,10) before every get.
/// Thread safety: a plain value; one user at a time.
class consumer_plan {
 public:
  consumer_plan(std::uint64_t seed, std::uint32_t index, int_range sleep = {})
      : stream_(seed, role::consumer, index), sleep_(sleep) {}
  /// The next sleep, in seconds before scaling.
  int next_sleep() { return stream_.randint(sleep_.low, sleep_.high); }

 private:
  stream stream_;
  int_range sleep_;
};

/// Parameters of one demo run.
struct params {
  std::uint32_t producers = 5;
  std::uint32_t consumers = 10;
  std::uint64_t seed = 444;
  double scale = 1.0;
  /// 0: events at the same tick run in scheduling order. Otherwise they run in
  /// a random order drawn from this seed (used to see whether the ideal time
  /// depends on how simultaneous events are ordered).
  std::uint64_t tie_order = 0;
};

/// The demo's rules as a discrete-event simulation with zero overhead: a FIFO
/// queue without bound; a producer sleeps then puts, item after item; a
/// consumer sleeps then gets, and consumers blocked in get are served in the
/// order they started waiting; every get is followed at once by task_done;
/// the run ends when every producer is done and the queue is joined (the
/// consumers are then cancelled, which takes no time). Times are exact
/// integers of unscaled seconds ("ticks"); events at the same tick run in the
/// order they were scheduled, producers before consumers at the start.
/// Thread safety: plain values; simulate() is a pure function.
enum class event_kind {
  producer_sleep,  ///< a producer starts sleeping `secs`
  put,             ///< a producer puts item `item`
  consumer_sleep,  ///< a consumer starts sleeping `secs`
  wait,            ///< a consumer's sleep ended; it calls get
  got,             ///< a consumer got item `item` (and marks it done)
  cancelled,       ///< a consumer was cancelled at the end (sleeping or waiting)
};

/// One event of a simulation or of a measured run. `who` is the producer or
/// consumer index; `item` is the global item number (1-based, in put order of
/// the simulation; 0 when none); `t` is seconds since the start (scaled).
struct event {
  double t = 0;
  event_kind kind = event_kind::put;
  std::uint32_t who = 0;
  std::uint32_t item = 0;
  int secs = 0;
};

/// Identity of one item: its producer and its sequence number there, and the
/// global number the simulation gave it.
struct item_ref {
  std::uint32_t producer = 0;
  std::uint32_t seq = 0;
  std::string name;
};

/// The outcome of simulate().
struct simulation {
  params p;
  std::vector<producer_plan> producers;
  std::vector<item_ref> items;                      ///< items[n-1] is item number n (put order)
  std::vector<std::vector<std::uint32_t>> numbers;  ///< numbers[producer][seq]
  std::vector<event> events;                        ///< in processing order
  std::int64_t completion_ticks = 0;
  double completion_s = 0;  ///< completion_ticks * scale: the ideal completion time
  std::uint64_t total_items() const noexcept { return items.size(); }
  /// The global number of (producer, seq), or 0 when unknown.
  std::uint32_t number_of(std::uint32_t producer, std::uint32_t seq) const;
};

/// Runs the zero-overhead simulation of the schedule `p` describes.
/// Thread safety: a pure function.
simulation simulate(const params& p);

/// The smallest and largest ideal completion time (seconds) over scheduling
/// order and `tries` random orders of simultaneous events. A real run may take
/// any of these branches, because two timers due at the same nominal instant
/// expire in an order decided by microseconds of jitter.
/// Thread safety: a pure function.
std::pair<double, double> ideal_range(params p, int tries);

/// Same rules on explicit plans (hand-made schedules in tests): consumer c
/// sleeps consumer_sleeps[c][0], [1], ... (0 once its list is exhausted).
simulation simulate(const params& p, std::vector<producer_plan> producers,
                    const std::vector<std::vector<int>>& consumer_sleeps);

/// The demo's output lines, exactly as asyncq.py prints them.
/// Thread safety: pure functions.
std::string producer_sleep_line(std::uint32_t producer, int secs);
std::string put_line(std::uint32_t producer, std::string_view name);
std::string consumer_sleep_line(std::uint32_t consumer, int secs);
std::string got_line(std::uint32_t consumer, std::string_view name, double seconds_in_queue);
std::string completed_line(double seconds);

/// Writes one line (a '\n' is appended) to stdout with one write call, so lines
/// from different threads never interleave.
/// Thread safety: safe from any thread.
void print_line(std::string_view line);

/// Collects the events of a measured run from the demo's stages. `bench`
/// installs one with install_recorder() before running the pipeline; stages
/// record only while one is installed.
/// Thread safety: record() from any thread; the rest from one thread while no
/// stage runs.
class recorder {
 public:
  /// A stage event: `producer`/`seq` identify the item for put and got.
  struct entry {
    clock::time_point at;
    event_kind kind = event_kind::put;
    std::uint32_t who = 0;
    std::uint32_t producer = 0;
    std::uint32_t seq = 0;
    int secs = 0;
    double queue_s = 0;  ///< got: seconds the item sat in the queue
  };

  /// Sets the zero of the run's clock.
  void start(clock::time_point at) { start_ = at; }
  clock::time_point started_at() const noexcept { return start_; }
  void record(entry e);
  /// Every entry in the order record() was called.
  std::vector<entry> entries() const;
  /// Entries converted to events (seconds since start, item numbers from `sim`).
  std::vector<event> events(const simulation& sim) const;

 private:
  mutable std::mutex mutex_;
  clock::time_point start_ = clock::now();
  std::vector<entry> entries_;
};

/// Installs (or with nullptr removes) the process-wide recorder.
/// Thread safety: call while no demo stage runs.
void install_recorder(std::shared_ptr<recorder> r);

/// The installed recorder, or nullptr.
/// Thread safety: safe from any thread while install_recorder is not called.
recorder* current_recorder() noexcept;

/// A Gantt view of a run: per lane, sleeping and waiting spans and item marks.
struct span {
  double start = 0;
  double end = 0;
  bool waiting = false;  ///< false: sleeping; true: blocked in get
};
struct mark {
  double t = 0;
  std::uint32_t item = 0;
};
struct lane {
  std::string label;  ///< `Producer 0`, `Consumer 3`
  std::vector<span> spans;
  std::vector<mark> marks;
};
struct timeline {
  double duration = 0;  ///< seconds from the start to the end of the run
  std::vector<lane> producers;
  std::vector<lane> consumers;
};

/// Builds the timeline of `events` (simulated or recorded) ending at `duration`.
/// Thread safety: a pure function.
timeline make_timeline(const std::vector<event>& events, std::uint32_t producers,
                       std::uint32_t consumers, double duration);

/// One text row per consumer, `Consumer 0: 1---.....7---9`, at most `width`
/// characters each: the item number at the column it was got, `-` while
/// blocked in get, `.` while sleeping, ` ` after the end. Followed by a
/// legend row.
/// Thread safety: a pure function.
std::vector<std::string> render_timeline_text(const timeline& tl, int width);

/// The terminal width: ioctl(TIOCGWINSZ) on stdout, else $COLUMNS, else 80.
int terminal_width();

/// The timeline as a standalone SVG document: one lane per producer and per
/// consumer, a time axis with ticks, sleeping and waiting bars and item marks.
/// Thread safety: a pure function.
std::string render_timeline_svg(const timeline& tl, std::string_view title);

/// Throughput mode: `items` zero-work items from `producers` coroutines to
/// `consumers` coroutines through a bounded_queue of `capacity`, on an
/// io_context run by `threads` threads (0: hardware threads). Every producer
/// and consumer has its own strand; producers push (waiting while full),
/// consumers pop and task_done; the run awaits the producers, joins the queue,
/// then cancels the consumers.
struct throughput_params {
  std::uint64_t items = 1'000'000;
  std::uint32_t producers = 5;
  std::uint32_t consumers = 100;
  std::size_t capacity = 1000;
  unsigned threads = 0;
};

/// What a throughput run measured. Times in the queue are nanoseconds.
struct throughput_result {
  std::uint64_t items = 0;
  double seconds = 0;
  double items_per_s = 0;
  unsigned threads = 0;
  std::size_t high_water = 0;
  std::int64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, max_ns = 0;
  std::uint64_t consumed = 0;  ///< items the consumers counted (== items)
};

/// Runs throughput mode. Blocks the calling thread.
/// Thread safety: call from one thread at a time.
throughput_result run_throughput(const throughput_params& p);

/// Escapes `&`, `<`, `>`, `"` and `'` for XML text and attribute values.
std::string xml_escape(std::string_view text);

}  // namespace sluice::stages::asyncq
