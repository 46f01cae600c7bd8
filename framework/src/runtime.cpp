// The runtime: one io_context over `threads` threads; every producer, every
// consumer worker and every sink on its own strand; the lifecycle
// producers -> queue.join() -> cancel workers -> close sinks -> report.
#include "sluice/runtime/runtime.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include <fmt/core.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include "dedup_set.hpp"
#include "metrics_server.hpp"
#include "run_metrics.hpp"
#include "run_state.hpp"
#include "sluice/core/error.hpp"
#include "sluice/core/fetch_error.hpp"
#include "sluice/core/json_text.hpp"
#include "sluice/queue/bounded_queue.hpp"
#include "sluice/runtime/filter.hpp"
#include "sluice/runtime/gate.hpp"
#include "sluice/runtime/histogram.hpp"
#include "sluice/runtime/progress.hpp"
#include "sluice/runtime/run_threads.hpp"
#include "temp_area.hpp"
#include "timeline_recorder.hpp"

namespace sluice {

namespace net = boost::asio;
using namespace net::experimental::awaitable_operators;
using strand_t = net::strand<net::io_context::executor_type>;

namespace {

constexpr std::size_t producer_batch = 256;
constexpr std::size_t sink_queue_capacity = 1024;
constexpr std::size_t sink_batch = 512;

/// How long, after the second signal (or a stage failure), producers and
/// consumer workers get to honour cancellation before the run reports and
/// exits without them (README, "Stopping a run").
constexpr auto shutdown_grace = std::chrono::seconds(5);

/// A one-shot event for coroutines on one strand: set() from anywhere.
class event {
 public:
  explicit event(strand_t s) : strand_(s), timer_(s, clock::time_point::max()) {}
  void set() {
    net::post(strand_, [this] {
      set_ = true;
      timer_.cancel();
    });
  }
  net::awaitable<void> wait() {
    while (!set_) {
      auto [ec] = co_await timer_.async_wait(net::as_tuple(net::use_awaitable));
      (void)ec;
    }
  }
  bool is_set() const { return set_; }

 private:
  strand_t strand_;
  net::steady_timer timer_;
  bool set_ = false;
};

/// A run that cannot resume (the state does not fit the pipeline): exit 2.
class resume_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What identifies a pipeline for resuming: its stages and their validated
/// options, and dedup; not workers, threads, queue or failure policy, which
/// a user may change between runs.
std::string config_hash(const pipeline_config& cfg) {
  boost::json::object o;
  auto stage = [](const stage_decl& d) {
    boost::json::object j;
    j["type"] = d.info->name;
    j["options"] = d.opts.json();
    if (!d.when.empty()) {
      j["when"] = d.when;
    }
    return j;
  };
  boost::json::array producers, sinks;
  for (const auto& d : cfg.producers) {
    producers.push_back(stage(d));
  }
  for (const auto& d : cfg.sinks) {
    sinks.push_back(stage(d));
  }
  o["producers"] = std::move(producers);
  o["consumer"] = stage(cfg.consumer);
  o["sinks"] = std::move(sinks);
  o["dedup"] = cfg.dedup;
  // A service's variables (the built-in origin's random port) differ from
  // run to run: hash them by name, not by value.
  auto text = detail::canonical_text(o);
  for (const auto& svc : cfg.service_instances) {
    for (const auto& [name, value] : svc->variables()) {
      if (value.empty()) {
        continue;
      }
      for (auto pos = text.find(value); pos != std::string::npos;
           pos = text.find(value, pos + name.size() + 3)) {
        text.replace(pos, value.size(), "${" + name + "}");
      }
    }
  }
  return detail::sha256_hex(text);
}

struct alignas(64) producer_state {
  std::atomic<std::uint64_t> produced{0};
  net::cancellation_signal cancel;
};

/// What a sink's queue carries: a result and its item's key in the run's
/// state, or (r == nullptr) a commit marker.
struct routed {
  result_ptr r;
  std::uint64_t key = 0;
};

struct sink_state {
  std::unique_ptr<sink> stage;
  std::shared_ptr<const result_filter> filter;
  std::unique_ptr<bounded_queue<routed>> queue;
  std::string name;
};

class pipeline_run {
 public:
  pipeline_run(pipeline_config& cfg, const run_options& opts)
      : cfg_(cfg),
        opts_(opts),
        ioc_(static_cast<int>(cfg.threads)),
        control_(net::make_strand(ioc_)),
        queue_(cfg.queue_capacity),
        producers_gate_(control_),
        workers_gate_(control_),
        sinks_gate_(control_),
        abort_(control_),
        stopping_(control_),
        round_timer_(control_, clock::time_point::max()),
        commit_timer_(control_),
        commits_ended_(control_),
        linger_timer_(control_) {}

  ~pipeline_run() { remove_temp_dir(); }

  /// Consumer workers still running when the run gave up waiting for them.
  std::size_t abandoned() const { return abandoned_; }

  run_report run() {
    make_temp_dir();
    report_.name = cfg_.name;
    report_.queue_capacity = cfg_.queue_capacity;
    if (!open_state() || !open_dedup() || !build_stages() || !open_metrics()) {
      return report_;
    }
    for (auto& svc : cfg_.service_instances) {
      svc->start();
    }
    started_ = clock::now();
    if (opts_.timeline_items > 0) {
      timeline_ = std::make_unique<detail::timeline_recorder>(workers_.size(), opts_.timeline_items,
                                                              started_);
    }
    net::co_spawn(control_, control(), [this](std::exception_ptr e) {
      if (e) {
        record_failure("runtime", e);
      }
      ioc_.stop();
    });
    std::optional<net::signal_set> signals;
    if (opts_.handle_signals) {
      // SIGHUP (the terminal went away) stops like SIGTERM, flushing.
      signals.emplace(control_, SIGINT, SIGTERM, SIGHUP);
      wait_signal(*signals);
    }
    run_on_threads(ioc_, cfg_.threads);
    for (auto& svc : cfg_.service_instances) {
      svc->stop();
    }
    finish_report();
    dedup_.reset();
    remove_temp_dir();
    return report_;
  }

 private:
  void remove_temp_dir() {
    std::error_code ec;
    if (!temp_dir_.empty()) {
      std::filesystem::remove_all(temp_dir_, ec);
      temp_dir_.clear();
    }
  }

  void make_temp_dir() { temp_dir_ = detail::make_run_temp_dir(); }

  // `metrics.listen` / `--metrics`: binds before anything runs, so a port in
  // use is an error (exit 2) before the first fetch. The CLI's value is
  // checked here (the file's already was, when loaded).
  bool open_metrics() {
    if (cfg_.metrics.listen.empty()) {
      return true;
    }
    auto parsed = detail::parse_listen_address(cfg_.metrics.listen);
    if (!parsed.address) {
      report_.stage_error = "sluice: metrics: " + parsed.error;
      report_.exit_code = 2;
      return false;
    }
    metrics_ = std::make_unique<detail::metrics_server>(net::make_strand(ioc_),
                                                        [this] { return sample_metrics(); });
    if (auto err = metrics_->open(*parsed.address); !err.empty()) {
      report_.stage_error = "sluice: " + err;
      report_.exit_code = 2;
      metrics_.reset();
      return false;
    }
    start_unix_s_ =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    fmt::print(stderr, "sluice: metrics at {}\n", metrics_->url());
    metrics_->start();
    return true;
  }

  // One scrape's figures: the counters as the progress sampler reads them,
  // the rest merged from the per-thread shards, each under its lock (held
  // for the merge only; nothing added to the workers' path but that lock).
  net::awaitable<detail::metrics_sample> sample_metrics() {
    detail::metrics_sample s;
    s.pipeline = cfg_.name;
    s.start_time_s = start_unix_s_;
    s.workers = workers_.size();
    s.queue_capacity = cfg_.queue_capacity;
    for (const auto& p : producer_states_) {
      s.produced += p.produced.load(std::memory_order_relaxed);
    }
    auto t = figures_.totals();
    s.done = t.done;
    s.failed = t.failed;
    s.bytes = t.bytes;
    s.in_flight = t.in_flight;
    figures_.for_each([&s](const detail::shard_figures& f) {
      s.retries += f.retries;
      s.latency.merge(f.latency);
      s.queue_time.merge(f.queue_time);
      for (const auto& [k, v] : f.errors) {
        s.errors_by_kind[k] += v;
      }
      for (const auto& [k, v] : f.statuses) {
        s.statuses[k] += v;
      }
      for (const auto& [h, hm] : f.hosts) {
        auto& e = s.hosts[h];
        e.requests += hm.requests;
        e.errors += hm.errors;
      }
    });
    s.queued = queue_.size();
    s.queue_high_water = queue_.high_water_mark();
    s.duplicates = duplicates_.load(std::memory_order_relaxed);
    if (consumer_) {
      s.origin_limits = consumer_->origin_limits(detail::metrics_top_hosts);
    }
    co_return s;
  }

  // After the run: the endpoint keeps serving the final figures for
  // `metrics.linger` (a signal ends it early), then closes with every
  // connection, before the io_context stops.
  net::awaitable<void> close_metrics() {
    if (!metrics_) {
      co_return;
    }
    if (cfg_.metrics.linger.count() > 0 && signals_seen_ == 0) {
      lingering_ = true;
      linger_timer_.expires_after(cfg_.metrics.linger);
      co_await linger_timer_.async_wait(net::as_tuple(net::use_awaitable));
      lingering_ = false;
    }
    co_await metrics_->stop();
  }

  // Opens the state directory and decides: fresh or resumed. False (exit 2)
  // when the state cannot be used.
  bool open_state() {
    if (!opts_.state || !cfg_.state.enabled) {
      return true;
    }
    std::filesystem::path base = std::filesystem::path(cfg_.file).parent_path();
    std::filesystem::path dir = opts_.state_dir           ? std::filesystem::path(*opts_.state_dir)
                                : !cfg_.state.dir.empty() ? base / cfg_.state.dir
                                                          : base / ".sluice" / cfg_.name;
    try {
      store_ = std::make_unique<detail::state_store>(dir);
      config_hash_ = config_hash(cfg_);
      if (opts_.fresh) {
        store_->discard();
      }
      auto saved = store_->load();
      if (saved && !saved->finished) {
        if (saved->config_hash != config_hash_) {
          report_.stage_error = fmt::format(
              "sluice: the pipeline changed since the unfinished run kept in {} (a different "
              "stage, option, sink or dedup): not resuming it; run with --fresh to discard "
              "that state and start over, or --no-state",
              dir.string());
          report_.exit_code = 2;
          return false;
        }
        prior_ = std::move(saved);
      } else if (saved) {
        store_->discard();  // the last run finished: this one starts fresh
      }
    } catch (const std::exception& e) {
      report_.stage_error = fmt::format("sluice: cannot use the state directory: {}", e.what());
      report_.exit_code = 2;
      return false;
    }
    report_.state_dir = dir.string();
    if (prior_) {
      report_.resumed_done = prior_->done_count();
      fmt::print(stderr, "sluice: resuming: {} of {} done (state in {}; --fresh starts over)\n",
                 with_commas(report_.resumed_done),
                 prior_->total ? with_commas(*prior_->total) : std::string("?"), dir.string());
    }
    return true;
  }

  // `dedup: url`: the set lives in the state directory, so it survives a
  // resume and goes with --fresh or a finished run; without state, in the
  // run's temporary directory. Flat memory: most of it is on disk.
  bool open_dedup() {
    if (cfg_.dedup.empty()) {
      return true;
    }
    auto dir = store_ ? store_->dir() : std::filesystem::path(temp_dir_) / "dedup";
    dedup_final_ = cfg_.dedup == "final_url";
    try {
      dedup_ = std::make_unique<detail::dedup_set>(dir);
    } catch (const std::exception& e) {
      report_.stage_error = fmt::format("sluice: cannot open the dedup set: {}", e.what());
      report_.exit_code = 2;
      return false;
    }
    return true;
  }

  static std::string with_commas(std::uint64_t n) {
    auto d = std::to_string(n);
    for (int i = static_cast<int>(d.size()) - 3; i > 0; i -= 3) {
      d.insert(static_cast<std::size_t>(i), ",");
    }
    return d;
  }

  // A resumed run: the producer skips what the watermark says is done.
  void resume_producer(std::size_t i) {
    if (!prior_ || i >= prior_->producers.size() || prior_->producers[i].empty()) {
      return;
    }
    auto& prod = *producers_[i];
    const auto& pp = prior_->producers[i];
    if (!prod.resumable()) {
      throw resume_error(fmt::format(
          "sluice: {} cannot resume (it reads stdin, or is a plugin without the resume API), "
          "and the unfinished run kept in {} had {} of its items done: run with --fresh to "
          "start over, or --no-state",
          cfg_.producers[i].display_name, report_.state_dir, pp.done_count()));
    }
    prod.skip_to(pp.watermark(), pp.watermark_offset());
  }

  // One commit: a marker through every sink's queue; each sink commits when
  // it reaches it (everything before it is written), then the state is
  // saved. Runs on the control strand, one round at a time.
  net::awaitable<void> commit_round() {
    auto t0 = clock::now();
    round_pending_ = sinks_.size();
    for (auto& s : sinks_) {
      auto [ec] = co_await s.queue->push(routed{}, net::as_tuple(net::use_awaitable));
      if (ec) {
        --round_pending_;  // the sink failed: its queue is closed
      }
    }
    while (round_pending_ > 0) {
      round_timer_.expires_at(clock::time_point::max());
      auto [ec] = co_await round_timer_.async_wait(net::as_tuple(net::use_awaitable));
      (void)ec;
    }
    save_state(false);
    commit_time_ += clock::now() - t0;
  }

  // A sink finished its part of a round (on its strand): tell the control.
  void sink_round_done() {
    net::post(control_, [this] {
      if (round_pending_ > 0 && --round_pending_ == 0) {
        round_timer_.cancel();
      }
    });
  }

  // Commits every `commit.interval`, or sooner once `commit.items` items
  // are done.
  net::awaitable<void> drive_commits() {
    auto last = clock::now();
    const auto tick = std::min<std::chrono::nanoseconds>(cfg_.state.commit_interval,
                                                         std::chrono::milliseconds(50));
    while (!commits_stop_) {
      commit_timer_.expires_after(tick);
      auto [ec] = co_await commit_timer_.async_wait(net::as_tuple(net::use_awaitable));
      (void)ec;
      if (commits_stop_) {
        break;
      }
      if (clock::now() - last >= cfg_.state.commit_interval ||
          tracker_->delivered_since_snapshot() >= cfg_.state.commit_items) {
        co_await commit_round();
        last = clock::now();
      }
    }
  }

  // Saves the tracker's state. The final save (`last`) marks the run
  // finished when every item was done, so the next run starts fresh.
  void save_state(bool last) {
    std::uint64_t pending = 0;
    auto s = tracker_->snapshot(&pending);
    s.config_hash = config_hash_;
    if (prior_ && prior_->total) {
      s.total = prior_->total;
    } else if (total_known_) {
      s.total = total_;
    }
    s.finished = last && !stop_requested_.load() && abandoned_ == 0 && pending == 0 &&
                 unstarted_ == 0 && interrupted_.load() == 0;
    try {
      // Every duplicate the snapshot marks done was dropped after its
      // first item was inserted: once the set is synced, the set a resumed
      // run opens knows that URL.
      if (dedup_) {
        dedup_->sync();
      }
      store_->save(s);
      ++commits_;
      if (s.finished && dedup_) {
        // The next run starts fresh: the set's files are of no more use.
        dedup_.reset();
        detail::dedup_set::remove_files(store_->dir());
      }
    } catch (...) {
      record_failure("state " + report_.state_dir, std::current_exception());
    }
  }

  stage_context context_for(const stage_decl& d, net::any_io_executor ex) {
    stage_context ctx;
    ctx.name = d.display_name;
    ctx.type = d.info->name;
    ctx.opts = d.opts;
    ctx.executor = std::move(ex);
    ctx.base_dir = std::filesystem::path(cfg_.file).parent_path();
    ctx.temp_dir = temp_dir_;
    ctx.stop_requested = [this] { return stop_requested_.load(std::memory_order_relaxed); };
    return ctx;
  }

  // Constructs every stage; a config_error from a factory is a configuration
  // problem reported at the option's position (exit 2).
  bool build_stages() {
    const stage_decl* current = nullptr;
    try {
      for (auto& d : cfg_.producers) {
        current = &d;
        auto s = net::make_strand(ioc_);
        producer_strands_.push_back(s);
        producers_.push_back(d.info->make_producer(context_for(d, s)));
        resume_producer(producers_.size() - 1);
        if (auto t = producers_.back()->total()) {
          total_ = total_.value_or(0) + *t;
        } else {
          total_known_ = false;
        }
      }
      producer_states_ = std::vector<producer_state>(producers_.size());
      current = &cfg_.consumer;
      consumer_ =
          cfg_.consumer.info->make_consumer(context_for(cfg_.consumer, ioc_.get_executor()));
      for (auto& d : cfg_.sinks) {
        current = &d;
        auto s = net::make_strand(ioc_);
        sink_state st;
        st.name = d.display_name;
        auto ctx = context_for(d, s);
        if (prior_ && sinks_.size() < prior_->sinks.size()) {
          ctx.resume_position = prior_->sinks[sinks_.size()].position.value_or("");
        }
        st.stage = d.info->make_sink(std::move(ctx));
        if (!d.when.empty()) {
          std::string err;
          int col = 0;
          st.filter = result_filter::parse(d.when, err, col);
          if (!st.filter) {
            throw config_error("when", "bad 'when' filter: " + err);
          }
        }
        sink_strands_.push_back(s);
        sinks_.push_back(std::move(st));
      }
      keep_bodies_ = std::any_of(sinks_.begin(), sinks_.end(),
                                 [](const sink_state& s) { return s.stage->wants_bodies(); });
      // A result waiting in any sink's queue keeps its body (in memory, up
      // to memory_body, or as a file in TMPDIR) until the last sink is done
      // with it. When bodies are kept, the queues hold about a worker's
      // worth each, so a slow sink or a long commit (a files sink's fsync)
      // holds back the workers instead of piling up bodies: 1,024 results
      // of 1 MiB each would be a GiB.
      const std::size_t capacity =
          keep_bodies_ ? std::clamp<std::size_t>(cfg_.workers, 16, sink_queue_capacity)
                       : sink_queue_capacity;
      for (auto& st : sinks_) {
        st.queue = std::make_unique<bounded_queue<routed>>(capacity);
      }
      if (store_) {
        tracker_ = std::make_unique<detail::commit_tracker>(producers_.size(), sinks_.size(),
                                                            prior_ ? &*prior_ : nullptr);
      }
    } catch (const resume_error& e) {
      report_.stage_error = e.what();
      report_.exit_code = 2;
      return false;
    } catch (const config_error& e) {
      source_mark m =
          current->marks.count(e.option()) ? current->marks.at(e.option()) : current->marks.at("");
      diagnostic dg{.file = cfg_.file,
                    .line = m.line,
                    .column = m.column,
                    .path = current->path,
                    .message = e.what()};
      report_.stage_error = format_diagnostic(dg);
      report_.exit_code = 2;
      return false;
    } catch (const std::exception& e) {
      report_.stage_error = fmt::format("{}: {}", current->display_name, e.what());
      report_.exit_code = 1;
      return false;
    }
    workers_.resize(cfg_.workers);
    for (auto& w : workers_) {
      w = std::make_unique<worker_slot>(net::make_strand(ioc_));
    }
    return true;
  }

  struct worker_slot {
    explicit worker_slot(strand_t s) : strand(s) {}
    strand_t strand;
    net::cancellation_signal cancel;
  };

  void wait_signal(net::signal_set& signals) {
    signals.async_wait([this, &signals](boost::system::error_code ec, int sig) {
      if (ec) {
        return;
      }
      if (lingering_) {
        // The run is over: a signal only ends the metrics' linger.
        lingering_ = false;
        linger_timer_.cancel();
        wait_signal(signals);
        return;
      }
      ++signals_seen_;
      if (signals_seen_ >= 3) {
        // The user has asked three times: exit now, flushing nothing (what
        // the sinks wrote so far stays as it is).
        static constexpr char msg[] = "sluice: third signal: exiting at once\n";
        [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
        ::_exit(signal_exit_);
      }
      if (signals_seen_ == 1) {
        report_.stop_reason = sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM";
        signal_exit_ = 128 + sig;  // 130, 143, 129: the shell's convention
        fmt::print(stderr,
                   "sluice: {} received: stopping; in-flight items finish, queued ones are "
                   "not started (signal again to abort)\n",
                   report_.stop_reason);
        request_stop();
        wait_signal(signals);
      } else {
        fmt::print(stderr,
                   "sluice: second signal: cancelling in-flight work (waiting at most {} s; "
                   "signal again to exit at once)\n",
                   shutdown_grace.count());
        request_abort();
        wait_signal(signals);
      }
    });
  }

  // Graceful stop: producers stop; what is queued and in flight finishes.
  void request_stop() {
    if (stop_requested_.exchange(true)) {
      return;
    }
    stopping_.set();
    for (std::size_t i = 0; i < producer_states_.size(); ++i) {
      net::post(producer_strands_[i],
                [this, i] { producer_states_[i].cancel.emit(net::cancellation_type::terminal); });
    }
  }

  // Hard stop: also cancel in-flight work; what is complete is still flushed.
  // Runs on the control strand (the signal set's), which owns the gates.
  void request_abort() {
    request_stop();
    aborting_.store(true);
    cancel_workers();
    auto deadline = gate::clock::now() + shutdown_grace;
    producers_gate_.expire_at(deadline);
    workers_gate_.expire_at(deadline);
    abort_.set();
  }

  // Once only: a second emit would land in a worker that is delivering its
  // cancelled result and make that delivery throw, losing the result.
  void cancel_workers() {
    if (workers_cancelled_.exchange(true)) {
      return;
    }
    for (auto& w : workers_) {
      net::post(w->strand,
                [slot = w.get()] { slot->cancel.emit(net::cancellation_type::terminal); });
    }
  }

  void record_failure(const std::string& stage, std::exception_ptr e) {
    std::string what;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
      what = "unknown exception";
    }
    {
      std::lock_guard lock(failure_mutex_);
      if (report_.stage_error.empty()) {
        report_.stage_error = stage + ": " + what;
      }
    }
    stage_failed_.store(true);
    request_stop();
  }

  // Spawns every stage coroutine through its group's gate. Each completion
  // handler records a throw (the first one stops the run gracefully) and
  // leaves the gate, whatever the outcome: nothing is spawned detached.
  void spawn_stages() {
    for (std::size_t i = 0; i < sinks_.size(); ++i) {
      sinks_gate_.enter();
      net::co_spawn(sink_strands_[i], drive_sink(i), [this, i](std::exception_ptr e) {
        if (e) {
          record_failure(sinks_[i].name, e);
        }
        sinks_gate_.leave();
      });
    }
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      auto* w = workers_[i].get();
      workers_gate_.enter();
      net::co_spawn(w->strand, drive_worker(static_cast<std::uint32_t>(i)),
                    net::bind_cancellation_slot(w->cancel.slot(), [this](std::exception_ptr e) {
                      if (e) {
                        record_failure(cfg_.consumer.display_name, e);
                      }
                      workers_gate_.leave();
                    }));
    }
    if (opts_.progress) {
      progress_ = opts_.progress_factory ? opts_.progress_factory() : make_stderr_progress();
      net::co_spawn(control_, drive_progress(), [this](std::exception_ptr e) {
        if (e) {
          record_failure("progress", e);
        }
      });
    }
  }

  void spawn_producers() {
    for (std::size_t i = 0; i < producers_.size(); ++i) {
      producers_gate_.enter();
      net::co_spawn(producer_strands_[i], drive_producer(i),
                    net::bind_cancellation_slot(
                        producer_states_[i].cancel.slot(), [this, i](std::exception_ptr e) {
                          if (e) {
                            record_failure(cfg_.producers[i].display_name, e);
                          }
                          producers_gate_.leave();
                        }));
    }
  }

  // Waits for one group's coroutines to leave its gate. Without a deadline
  // (none is set before a second signal) this waits as long as they take;
  // after it, the ones still running are abandoned and the run goes on.
  net::awaitable<void> close_gate(gate& g, const char* what) {
    if (!co_await g.close()) {
      auto n = g.count();
      abandoned_ += n;
      fmt::print(stderr,
                 "sluice: {} {}{} still running {} s after cancellation (ignoring it?): "
                 "reporting and exiting without {}\n",
                 n, what, n == 1 ? "" : "s", shutdown_grace.count(), n == 1 ? "it" : "them");
    }
  }

  // The lifecycle, step by step.
  net::awaitable<void> control() {
    spawn_stages();
    if (tracker_) {
      // The sinks' starting positions are saved before any item flows, so a
      // crash at any later moment finds a state to resume from.
      co_await commit_round();
      net::co_spawn(control_, drive_commits(), [this](std::exception_ptr e) {
        if (e) {
          record_failure("state", e);
        }
        commits_ended_.set();
      });
    }
    spawn_producers();
    co_await close_gate(producers_gate_, "producer");
    // Every item pushed is either consumed, dropped unstarted by a stop, or
    // (after a second signal) abandoned.
    co_await (queue_.join(net::use_awaitable) || abort_.wait() || stopping_.wait());
    if (stop_requested_.load()) {
      // A stop (a signal, a failed stage), before or after the producers
      // ended, does not drain the queue: what is queued is not started,
      // only what workers hold finishes.
      drop_queued();
      co_await (queue_.join(net::use_awaitable) || abort_.wait());
    }
    cancel_workers();
    co_await close_gate(workers_gate_, "consumer worker");
    if (tracker_) {
      // The last commit is the sinks' own, when their queues close.
      commits_stop_ = true;
      commit_timer_.cancel();
      co_await commits_ended_.wait();
    }
    queue_.close();
    for (auto& s : sinks_) {
      s.queue->close();
    }
    // Sinks hold what is complete: they get all the time they need (a third
    // signal is the way out).
    co_await sinks_gate_.close();
    if (tracker_) {
      save_state(true);
    }
    if (abandoned_ == 0) {
      try {
        co_await consumer_->close();
      } catch (...) {
        record_failure(cfg_.consumer.display_name, std::current_exception());
      }
    }
    finished_ = clock::now();
    progress_finished_ = true;
    if (progress_) {
      progress_->finish(snapshot());
    }
    co_await close_metrics();
  }

  // Closes the queue and takes out what it holds, unstarted: idle workers
  // see it closed and end, busy ones end after their item.
  void drop_queued() {
    queue_.close();
    std::vector<item> dropped;
    while (queue_.try_pop_bulk(dropped, 1024) > 0) {
      unstarted_ += dropped.size();
      queue_.task_done(dropped.size());
      dropped.clear();
    }
  }

  net::awaitable<void> drive_producer(std::size_t index) {
    auto& prod = *producers_[index];
    auto& st = producer_states_[index];
    std::vector<item> batch;
    batch.reserve(producer_batch);
    const auto p = static_cast<std::uint32_t>(index);
    std::uint64_t seq =
        prior_ && index < prior_->producers.size() ? prior_->producers[index].watermark() : 0;
    try {
      for (bool more = true; more && !stop_requested_.load(std::memory_order_relaxed);) {
        batch.clear();
        more = co_await prod.next(batch, producer_batch);
        for (auto& it : batch) {
          it.producer = p;
          it.seq = seq++;
          // Done by an earlier run (above its watermark): not again.
          if (prior_ && tracker_->is_done(p, it.seq)) {
            ++skipped_done_;
            continue;
          }
          // A URL an earlier item had (any producer, this run or the one it
          // resumes) is dropped before the queue, and is done at once. The
          // set knows which item stored it, so a resumed run re-producing
          // that same item (not done before the stop) is not its duplicate.
          if (dedup_ && !dedup_final_ &&
              dedup_->insert(it.url, detail::item_key(p, it.seq)) ==
                  detail::dedup_set::verdict::duplicate) {
            duplicates_.fetch_add(1, std::memory_order_relaxed);
            if (tracker_) {
              tracker_->mark_done(p, it.seq, it.resume_offset);
            }
            continue;
          }
          if (!queue_.try_push(it)) {
            co_await queue_.push(std::move(it));
          }
          st.produced.fetch_add(1, std::memory_order_relaxed);
        }
      }
    } catch (const boost::system::system_error& e) {
      // A stop cancels a producer mid-wait: that is how producers end early.
      if (e.code() != net::error::operation_aborted && e.code() != errc::closed) {
        throw;
      }
    }
  }

  /// What a throw out of the consumer's process() makes of its item: true
  /// when it is the cancellation of an abort (a second signal); otherwise a
  /// failed result (kind exception) and the stage's failure recorded.
  /// Anything that is not a std::exception propagates, as before.
  bool consumer_threw(const std::exception_ptr& e, result& r) {
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& se) {
      if (se.code() == net::error::operation_aborted && aborting_.load()) {
        return true;
      }
      record_failure(cfg_.consumer.display_name, e);
      r.error_kind = name(fetch_errc::exception);
      r.error_message = se.what();
    } catch (const std::exception& ex) {
      record_failure(cfg_.consumer.display_name, e);
      r.error_kind = name(fetch_errc::exception);
      r.error_message = ex.what();
    }
    return false;
  }

  net::awaitable<void> drive_worker(std::uint32_t index) {
    auto& slot = *workers_[index];
    worker_info info{index, slot.strand, keep_bodies_};
    try {
      co_await worker_loop(info);
    } catch (const boost::system::system_error& e) {
      // Cancellation that arrives while the worker is between awaits surfaces
      // at its next await: at shutdown that is the normal way out.
      if (e.code() != net::error::operation_aborted) {
        throw;
      }
    }
  }

  net::awaitable<void> worker_loop(worker_info info) {
    const std::uint32_t index = info.index;
    const bool paced = consumer_->paces_workers();
    // The item's URL, kept for a result that comes back without one: a
    // buffer reused from item to item, so keeping it costs no allocation.
    std::string url;
    for (;;) {
      if (paced) {
        co_await consumer_->before_pop(info);
      }
      item it;
      if (!queue_.try_pop(it)) {
        auto [ec, v] = co_await queue_.pop(net::as_tuple(net::use_awaitable));
        if (ec) {
          break;  // cancelled at shutdown, or closed
        }
        it = std::move(v);
      }
      figures_.local().in_flight.fetch_add(1, std::memory_order_relaxed);
      auto enqueued = it.enqueued_at;
      auto idx = it.index;
      auto producer = it.producer;
      const auto key = detail::item_key(it.producer, it.seq);
      const auto resume_offset = it.resume_offset;
      url.assign(it.url);
      auto spec = it.request;
      auto started = clock::now();
      result r;
      bool cancelled = false;
      if (spec && !spec->error_kind.empty()) {
        // A record its producer could not read as a request fails here,
        // whatever the consumer: it is data, like any failure.
        r.error_kind = spec->error_kind;
        r.error_message = spec->error_message;
      } else {
        try {
          r = co_await consumer_->process(std::move(it), info);
        } catch (...) {
          cancelled = consumer_threw(std::current_exception(), r);
        }
      }
      if (cancelled) {
        r.error_kind = name(fetch_errc::cancelled);
        r.error_message = "cancelled by a second signal";
      }
      // A consumer may also turn the cancellation into a result of its own
      // (the http consumer does). Either way the worker ends after this item
      // and its result is still delivered, so no await below may throw on
      // the cancellation.
      if (cancelled || (co_await net::this_coro::cancellation_state).cancelled() !=
                           net::cancellation_type::none) {
        cancelled = true;
        co_await net::this_coro::reset_cancellation_state();
        co_await net::this_coro::throw_if_cancelled(false);
      }
      if (cancelled && tracker_) {
        // With state, a cancelled item is not done: the next run fetches
        // it, and no sink gets a `cancelled` record for it.
        interrupted_.fetch_add(1, std::memory_order_relaxed);
        end_item(false);
        break;
      }
      if (r.error_kind == name(fetch_errc::environment)) {
        environment_failure(r.error_message);
        if (tracker_) {
          // Not done: the run that follows, once space is freed, fetches it.
          // Shared and dropped at once, so a partial body file goes too.
          detail::share_result(std::move(r), temp_dir_).reset();
          interrupted_.fetch_add(1, std::memory_order_relaxed);
          end_item(false);
          continue;
        }
      }
      auto finished = clock::now();
      if (r.url.empty()) {
        r.url = url;
      }
      if (!r.request) {
        r.request = std::move(spec);
      }
      r.index = idx;
      r.producer = producer;
      r.worker = index;
      r.enqueued_at = enqueued;
      r.started_at = started;
      r.finished_at = finished;
      r.time.queue = started - enqueued;
      if (r.time.total.count() == 0) {
        r.time.total = finished - started;
      }
      record_metrics(r, key);
      // `dedup: final_url`: a result whose final URL (after redirects) an
      // earlier result had is fetched (and counted as a request) but not
      // delivered; it is done, and counted as a duplicate, not consumed.
      if (dedup_final_ && r.ok() &&
          dedup_->insert(r.final_url.empty() ? r.url : r.final_url, key) ==
              detail::dedup_set::verdict::duplicate) {
        duplicates_.fetch_add(1, std::memory_order_relaxed);
        if (tracker_) {
          tracker_->delivered(key, 0, resume_offset);
        }
        // Shared and dropped at once: a streamed body's file is unlinked.
        detail::share_result(std::move(r), temp_dir_).reset();
        end_item(false);
        continue;
      }
      // A streamed body's file goes with the last sink's reference.
      auto shared = detail::share_result(std::move(r), temp_dir_);
      const auto mask = route(*shared, key, resume_offset);
      // (No if-init statement: g++ 12 mishandles one whose body awaits.)
      const auto full = push_ready(shared, key, mask, 0);
      if (full < sinks_.size()) {
        co_await deliver_rest(std::move(shared), key, mask, full);
      }
      end_item(true);
      if (cancelled) {
        break;
      }
    }
  }

  // One finished item in the metrics of the thread it finished on, and on
  // the timeline when there is one.
  void record_metrics(const result& r, std::uint64_t key) {
    if (timeline_) {
      timeline_->record(r, detail::item_seq(key));
    }
    figures_.record(r);
    if (!r.ok()) {
      note_failure();
    }
  }

  // A worker is done with its item, delivered (counted as done) or not: it
  // is out of flight and one task of the queue is done. On whatever thread
  // the worker runs now.
  void end_item(bool delivered) {
    auto& s = figures_.local();
    if (delivered) {
      s.done.fetch_add(1, std::memory_order_relaxed);
    }
    s.in_flight.fetch_sub(1, std::memory_order_relaxed);
    queue_.task_done();
  }

  // The machine failed, not the item (a full or read-only TMPDIR, no file
  // descriptor left), after the consumer's retries: every next item would
  // fail the same way, so the run stops gracefully (exit 1) with one clear
  // message instead of failing items one by one. The first one reports.
  void environment_failure(const std::string& message) {
    if (environment_failed_.exchange(true)) {
      return;
    }
    {
      std::lock_guard lock(failure_mutex_);
      if (report_.stage_error.empty()) {
        report_.stage_error = fmt::format(
            "environment: {}; stopped the run (free the space or raise the limit, then run "
            "again{})",
            message, tracker_ ? ": it resumes where it stopped" : "");
      }
    }
    fmt::print(stderr, "sluice: {}: stopping\n", message);
    stage_failed_.store(true);
    net::post(control_, [this] { request_stop(); });
  }

  // `stop_after_failed: N`: the Nth failed item stops the run gracefully.
  void note_failure() {
    auto n = failed_total_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (cfg_.stop_after_failed != 0 && n == cfg_.stop_after_failed) {
      net::post(control_, [this] {
        if (!stop_requested_.load()) {
          report_.stop_reason = "stop_after_failed";
          fmt::print(stderr, "sluice: {} items failed (stop_after_failed): stopping\n",
                     cfg_.stop_after_failed);
        }
        request_stop();
      });
    }
  }

  // Which sinks take a result, with state: the ones whose filter takes it
  // and that do not hold the item from an earlier run. The tracker learns
  // them (they must commit it before it is done). Without state: 0, and
  // takes() asks each sink's filter.
  std::uint64_t route(const result& r, std::uint64_t key, std::uint64_t resume_offset) {
    std::uint64_t mask = 0;
    if (tracker_) {
      auto held = prior_ ? tracker_->held_by(key) : 0;
      for (std::size_t i = 0; i < sinks_.size(); ++i) {
        auto bit = std::uint64_t{1} << i;
        if (!(held & bit) && (!sinks_[i].filter || sinks_[i].filter->matches(r))) {
          mask |= bit;
        }
      }
      tracker_->delivered(key, mask, resume_offset);
    }
    return mask;
  }

  bool takes(std::size_t i, const result& r, std::uint64_t mask) const {
    return tracker_ ? (mask & (std::uint64_t{1} << i)) != 0
                    : !sinks_[i].filter || sinks_[i].filter->matches(r);
  }

  // Hands a result to the sinks from `from` on that take it, without
  // waiting (no coroutine frame: the common case of sink queues with room
  // costs no allocation). The last sink gets the reference itself rather
  // than a copy. Returns the first sink whose queue was full (it did not get
  // the result), or sinks_.size() when every sink got it.
  std::size_t push_ready(result_ptr& r, std::uint64_t key, std::uint64_t mask, std::size_t from) {
    for (std::size_t i = from; i < sinks_.size(); ++i) {
      if (!takes(i, *r, mask)) {
        continue;
      }
      routed shared{nullptr, key};
      if (i + 1 == sinks_.size()) {
        shared.r = std::move(r);
      } else {
        shared.r = r;
      }
      // try_push moves from its argument on success only.
      if (!sinks_[i].queue->try_push(shared)) {
        if (!r) {
          r = std::move(shared.r);
        }
        return i;
      }
    }
    return sinks_.size();
  }

  // The rest of a delivery once a sink's queue was full: wait for room
  // (backpressure from a slow sink) or its closing (the sink failed).
  net::awaitable<void> deliver_rest(result_ptr r, std::uint64_t key, std::uint64_t mask,
                                    std::size_t full) {
    for (std::size_t i = full; i < sinks_.size(); ++i) {
      if (i != full && !takes(i, *r, mask)) {
        continue;
      }
      routed shared{r, key};  // try_push moves from its argument on success
      if (!sinks_[i].queue->try_push(shared)) {
        auto [ec] =
            co_await sinks_[i].queue->push(std::move(shared), net::as_tuple(net::use_awaitable));
        (void)ec;
      }
    }
  }

  // Writes a sink's results in batches. A commit marker (with state) makes
  // the sink commit what it wrote, and tells the tracker which items that
  // covered; the queue closing makes the last commit.
  net::awaitable<void> drive_sink(std::size_t index) {
    auto& s = sinks_[index];
    std::vector<routed> popped;
    std::vector<result_ptr> batch;
    std::vector<std::uint64_t> uncommitted;
    popped.reserve(sink_batch);
    batch.reserve(sink_batch);
    bool failed = false;
    try {
      for (;;) {
        auto [ec, r] = co_await s.queue->pop(net::as_tuple(net::use_awaitable));
        if (ec) {
          break;
        }
        popped.push_back(std::move(r));
        s.queue->try_pop_bulk(popped, sink_batch - 1);
        for (auto& e : popped) {
          if (e.r) {
            batch.push_back(std::move(e.r));
            if (tracker_) {
              uncommitted.push_back(e.key);
            }
            continue;
          }
          // A commit marker: write what came before it, then commit.
          if (!batch.empty()) {
            co_await s.stage->write(batch);
            batch.clear();
          }
          e.key = 1;  // counted: the failure path below must not count it again
          co_await sink_commit(index, uncommitted);
          sink_round_done();
        }
        popped.clear();
        if (!batch.empty()) {
          co_await s.stage->write(batch);
          batch.clear();
        }
      }
      if (tracker_) {
        co_await sink_commit(index, uncommitted);
      }
    } catch (...) {
      record_failure(s.name, std::current_exception());
      failed = true;
    }
    if (failed) {
      // Drop what is queued for this sink so no worker waits on it; a
      // commit marker among it still counts for its round.
      s.queue->close();
      routed drop;
      for (auto& e : popped) {
        if (!e.r && e.key == 0) {
          sink_round_done();
        }
      }
      while (s.queue->try_pop(drop)) {
        if (!drop.r) {
          sink_round_done();
        }
      }
    }
    try {
      co_await s.stage->close();
    } catch (...) {
      if (!failed) {
        record_failure(s.name, std::current_exception());
      }
    }
  }

  net::awaitable<void> sink_commit(std::size_t index, std::vector<std::uint64_t>& keys) {
    auto position = co_await sinks_[index].stage->commit();
    tracker_->committed(index, std::move(position), keys);
    keys.clear();
  }

  net::awaitable<void> drive_progress() {
    net::steady_timer timer(control_);
    while (!progress_finished_) {
      progress_->update(snapshot());
      timer.expires_after(std::chrono::milliseconds(100));
      co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    }
  }

  progress_snapshot snapshot() const {
    progress_snapshot s;
    for (const auto& p : producer_states_) {
      s.produced += p.produced.load(std::memory_order_relaxed);
    }
    auto t = figures_.totals();
    s.done = t.done;
    s.failed = t.failed;
    s.bytes = t.bytes;
    s.in_flight = t.in_flight;
    s.queued = queue_.size();
    if (total_known_) {
      s.total = total_;
    }
    s.elapsed_s = std::chrono::duration<double>(clock::now() - started_).count();
    return s;
  }

  void finish_report() {
    if (finished_ == clock::time_point{}) {
      finished_ = clock::now();
    }
    auto& r = report_;
    r.workers = static_cast<std::uint32_t>(workers_.size());
    // An abandoned worker may still write its buffer: no timeline then.
    if (timeline_ && abandoned_ == 0) {
      r.timeline = timeline_->items();
    }
    for (const auto& p : producer_states_) {
      r.produced += p.produced.load();
    }
    auto t = figures_.totals();
    r.consumed = t.done;
    r.failed = t.failed;
    r.bytes = t.bytes;
    histogram qt, lat;
    std::map<std::string, detail::host_metrics> hosts;
    figures_.for_each([&](const detail::shard_figures& f) {
      r.retries += f.retries;
      qt.merge(f.queue_time);
      lat.merge(f.latency);
      for (const auto& [k, v] : f.errors) {
        r.errors_by_kind[k] += v;
      }
      for (const auto& [k, v] : f.statuses) {
        r.status_counts[k] += v;
      }
      for (const auto& [h, hm] : f.hosts) {
        auto& e = hosts[h];
        e.requests += hm.requests;
        e.errors += hm.errors;
        e.latency.merge(hm.latency);
      }
    });
    for (const auto& [h, hm] : hosts) {
      r.top_hosts.push_back({h, hm.requests, hm.errors, hm.latency.quantile(0.99)});
    }
    std::sort(r.top_hosts.begin(), r.top_hosts.end(),
              [](const host_summary& a, const host_summary& b) {
                return a.requests != b.requests ? a.requests > b.requests : a.host < b.host;
              });
    if (r.top_hosts.size() > 10) {
      r.top_hosts.resize(10);
    }
    if (consumer_) {
      r.origin_limits = consumer_->origin_limits(10);
    }
    for (const auto& [status, n] : r.status_counts) {
      r.status_classes[std::to_string(status / 100) + "xx"] += n;
    }
    r.time_in_queue = qt.summary();
    r.latency = lat.summary();
    r.elapsed_s = std::chrono::duration<double>(finished_ - started_).count();
    r.items_per_s = r.elapsed_s > 0 ? static_cast<double>(r.consumed) / r.elapsed_s : 0;
    r.queue_high_water = queue_.high_water_mark();
    r.unstarted = unstarted_;
    r.interrupted = interrupted_.load();
    r.duplicates_dropped = duplicates_.load();
    r.commits = commits_;
    r.commit_s = std::chrono::duration<double>(commit_time_).count();
    if (signal_exit_ != 0) {
      r.exit_code = signal_exit_;
    } else if (stage_failed_.load()) {
      r.exit_code = 1;
      r.stop_reason =
          environment_failed_.load() ? std::string(name(fetch_errc::environment)) : "stage failed";
    }
    r.max_failed = cfg_.max_failed.percent ? fmt::format("{}%", *cfg_.max_failed.percent)
                                           : std::to_string(cfg_.max_failed.count);
    r.too_many_failed = cfg_.max_failed.exceeded(r.failed, r.consumed);
    if (r.exit_code == 0 && r.too_many_failed) {
      r.exit_code = 3;  // more items failed than max_failed allows
    }
    if (opts_.stats_json) {
      std::ofstream out(*opts_.stats_json, std::ios::trunc);
      out << to_json_text(r.to_json()) << '\n';
      if (!out) {
        fmt::print(stderr, "sluice: cannot write --stats-json file {}\n", *opts_.stats_json);
      }
    }
  }

  pipeline_config& cfg_;
  run_options opts_;
  net::io_context ioc_;
  strand_t control_;
  bool keep_bodies_ = true;  ///< some sink reads bodies (worker_info::keep_bodies)
  bounded_queue<item> queue_;
  gate producers_gate_, workers_gate_, sinks_gate_;
  event abort_;
  event stopping_;  ///< request_stop was called (a signal, a failure, stop_after_failed)
  std::filesystem::path temp_dir_;

  // Resumable runs (all null/empty without state).
  std::unique_ptr<detail::state_store> store_;
  std::optional<detail::saved_state> prior_;  ///< the unfinished run resumed
  std::unique_ptr<detail::commit_tracker> tracker_;
  std::string config_hash_;
  std::size_t round_pending_ = 0;  ///< sinks yet to commit this round (control strand)
  net::steady_timer round_timer_;
  net::steady_timer commit_timer_;
  bool commits_stop_ = false;  ///< control strand
  event commits_ended_;
  std::uint64_t commits_ = 0;
  clock::duration commit_time_{};
  std::atomic<std::uint64_t> skipped_done_{0};
  std::atomic<bool> environment_failed_{false};
  std::unique_ptr<detail::dedup_set> dedup_;  ///< `dedup: url | final_url`, else null
  bool dedup_final_ = false;                  ///< `final_url`: after the fetch, not before
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<std::uint64_t> interrupted_{0};

  std::vector<std::unique_ptr<producer>> producers_;
  std::vector<strand_t> producer_strands_;
  std::vector<producer_state> producer_states_;
  std::unique_ptr<consumer> consumer_;
  std::vector<std::unique_ptr<worker_slot>> workers_;
  detail::run_metrics figures_;  ///< the consumer's metrics, per thread
  std::vector<sink_state> sinks_;
  std::vector<strand_t> sink_strands_;

  std::size_t abandoned_ = 0;    ///< coroutines given up on (control strand)
  std::uint64_t unstarted_ = 0;  ///< queued items a stop dropped (control strand)
  std::atomic<bool> stop_requested_{false}, aborting_{false}, stage_failed_{false};
  std::atomic<bool> workers_cancelled_{false};
  std::atomic<std::uint64_t> failed_total_{0};
  int signals_seen_ = 0;
  int signal_exit_ = 0;
  std::mutex failure_mutex_;
  std::optional<std::uint64_t> total_;
  bool total_known_ = true;
  std::unique_ptr<progress_reporter> progress_;
  std::unique_ptr<detail::timeline_recorder> timeline_;
  bool progress_finished_ = false;
  clock::time_point started_{}, finished_{};
  run_report report_;
  // The metrics endpoint (null without `metrics:`); after the workers, so
  // it is destroyed first. Its coroutines end in close_metrics().
  std::unique_ptr<detail::metrics_server> metrics_;
  double start_unix_s_ = 0;
  net::steady_timer linger_timer_;
  bool lingering_ = false;  ///< control strand
};

}  // namespace

run_report run_pipeline(pipeline_config& cfg, const run_options& opts) {
  auto run = std::make_unique<pipeline_run>(cfg, opts);
  auto report = run->run();
  if (run->abandoned() > 0) {
    // Frames of coroutines that ignored cancellation still point into the
    // run: destroying it would run their code against freed state. The
    // caller is about to exit; keep the run reachable so leak checkers agree.
    static auto* abandoned_runs = new std::vector<std::unique_ptr<pipeline_run>>;
    abandoned_runs->push_back(std::move(run));
  }
  return report;
}

}  // namespace sluice
