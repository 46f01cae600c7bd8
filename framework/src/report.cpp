#include <fmt/core.h>

#include <boost/json.hpp>

#include "sluice/runtime/runtime.hpp"
#include "sluice/stage/options.hpp"

namespace sluice {

namespace {
boost::json::object summary_json(const latency_summary& s) {
  auto ms = [](std::int64_t ns) { return static_cast<double>(ns) / 1e6; };
  return {{"count", s.count},
          {"p50_ms", ms(s.p50)},
          {"p90_ms", ms(s.p90)},
          {"p99_ms", ms(s.p99)},
          {"max_ms", ms(s.max)}};
}

std::string summary_text(const latency_summary& s) {
  using std::chrono::nanoseconds;
  return fmt::format("p50 {}  p90 {}  p99 {}  max {}", format_duration(nanoseconds(s.p50)),
                     format_duration(nanoseconds(s.p90)), format_duration(nanoseconds(s.p99)),
                     format_duration(nanoseconds(s.max)));
}
}  // namespace

boost::json::object run_report::to_json() const {
  boost::json::object errors;
  for (const auto& [k, v] : errors_by_kind) {
    errors[k] = v;
  }
  boost::json::object statuses;
  for (const auto& [k, v] : status_counts) {
    statuses[std::to_string(k)] = v;
  }
  boost::json::object classes;
  for (const auto& [k, v] : status_classes) {
    classes[k] = v;
  }
  boost::json::array hosts;
  for (const auto& h : top_hosts) {
    hosts.push_back(boost::json::object{{"host", h.host},
                                        {"requests", h.requests},
                                        {"errors", h.errors},
                                        {"p99_ms", static_cast<double>(h.p99) / 1e6}});
  }
  boost::json::array limits;
  for (const auto& o : origin_limits) {
    limits.push_back(boost::json::object{{"origin", o.origin},
                                         {"limit", o.limit},
                                         {"in_flight", o.in_flight},
                                         {"adaptive", o.adaptive}});
  }
  return {{"name", name},
          {"produced", produced},
          {"consumed", consumed},
          {"succeeded", consumed - failed},
          {"failed", failed},
          {"unstarted", unstarted},
          {"interrupted", interrupted},
          {"duplicates_dropped", duplicates_dropped},
          {"state_dir", state_dir},
          {"resumed_done", resumed_done},
          {"commits", commits},
          {"commit_s", commit_s},
          {"max_failed", max_failed},
          {"too_many_failed", too_many_failed},
          {"elapsed_s", elapsed_s},
          {"items_per_s", items_per_s},
          {"queue_capacity", queue_capacity},
          {"queue_high_water", queue_high_water},
          {"time_in_queue", summary_json(time_in_queue)},
          {"latency", summary_json(latency)},
          {"errors_by_kind", std::move(errors)},
          {"status_counts", std::move(statuses)},
          {"status_classes", std::move(classes)},
          {"top_hosts", std::move(hosts)},
          {"origin_limits", std::move(limits)},
          {"bytes", bytes},
          {"retries", retries},
          {"stop_reason", stop_reason},
          {"stage_error", stage_error},
          {"exit_code", exit_code}};
}

std::string run_report::failure_line() const {
  std::string kinds;
  for (const auto& [kind, n] : errors_by_kind) {
    kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", kind, n);
  }
  return fmt::format("sluice: {}: {} of {} items failed ({})", name, failed, consumed, kinds);
}

std::string run_report::to_text() const {
  std::string out = fmt::format("sluice: {} finished in {:.3f}s{}\n", name, elapsed_s,
                                stop_reason.empty() ? "" : " (stopped: " + stop_reason + ")");
  out += fmt::format("  items     produced {}  consumed {}  ok {}  failed {}  ({:.0f} items/s)\n",
                     produced, consumed, consumed - failed, failed, items_per_s);
  if (too_many_failed) {
    out += fmt::format("  failures  {} items failed: more than max_failed ({}) allows: exit 3\n",
                       failed, max_failed);
  }
  if (unstarted > 0) {
    out += fmt::format("  unstarted {} (queued when the run stopped; not fetched)\n", unstarted);
  }
  if (interrupted > 0) {
    out +=
        fmt::format("  interrupted {} (cancelled in flight; not done: the next run fetches them)\n",
                    interrupted);
  }
  if (duplicates_dropped > 0) {
    out += fmt::format("  duplicates {} dropped (dedup: the same URL came before)\n",
                       duplicates_dropped);
  }
  if (!state_dir.empty()) {
    out += fmt::format("  state     {}  resumed with {} done  commits {} ({:.3f}s)\n", state_dir,
                       resumed_done, commits, commit_s);
  }
  out += fmt::format("  queue     capacity {}  high-water {}\n", queue_capacity, queue_high_water);
  out += fmt::format("  in queue  {}\n", summary_text(time_in_queue));
  out += fmt::format("  latency   {}\n", summary_text(latency));
  if (bytes > 0) {
    out += fmt::format("  bytes     {}\n", bytes);
  }
  if (!status_counts.empty()) {
    out += "  status   ";
    for (const auto& [k, v] : status_counts) {
      out += fmt::format(" {}: {}", k, v);
    }
    out += "\n";
  }
  if (!status_classes.empty()) {
    out += "  classes  ";
    for (const auto& [k, v] : status_classes) {
      out += fmt::format(" {}: {}", k, v);
    }
    out += "\n";
  }
  if (!top_hosts.empty() && !(top_hosts.size() == 1 && top_hosts[0].host == "(none)")) {
    out += "  top hosts\n";
    for (const auto& h : top_hosts) {
      out += fmt::format("    {:<28} requests {:>9}  errors {:>7}  p99 {}\n", h.host, h.requests,
                         h.errors, format_duration(std::chrono::nanoseconds(h.p99)));
    }
  }
  if (!origin_limits.empty()) {
    out += "  limits\n";
    for (const auto& o : origin_limits) {
      out +=
          fmt::format("    {:<28} per_host {}{}\n", o.origin, o.limit, o.adaptive ? " (auto)" : "");
    }
  }
  if (!errors_by_kind.empty()) {
    out += "  errors   ";
    for (const auto& [k, v] : errors_by_kind) {
      out += fmt::format(" {}: {}", k, v);
    }
    out += "\n";
  }
  if (retries > 0) {
    out += fmt::format("  retries   {}\n", retries);
  }
  if (!stage_error.empty()) {
    out += fmt::format("  error     {}\n", stage_error);
  }
  return out;
}

}  // namespace sluice
