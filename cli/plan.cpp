// `sluice plan`: what a pipeline would fetch, without fetching it. Runs the
// producers alone (drain_producers), counts URLs per origin in bounded memory
// (plan_origins.hpp) and forecasts the run's duration from the consumer's
// workers, per_host and rate and an assumed per-request latency
// (docs/plan.md has the model).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include <fmt/core.h>
#include <boost/json.hpp>

#include "commands.hpp"
#include "http/http_config.hpp"
#include "plan_origins.hpp"
#include "sluice/config/config.hpp"
#include "sluice/core/json_text.hpp"
#include "sluice/runtime/drain.hpp"

namespace sluice::cli {

namespace {

namespace json = boost::json;

struct plan_options {
  std::string file;
  std::vector<std::string> overrides;
  bool json = false;
  std::string latency = "200ms";
  std::size_t top = 20;
  std::size_t exact_origins = 100'000;
};

/// What the forecast knows of the consumer. `limited` is false for a
/// consumer without per-origin limits (anything but `http`).
struct consumer_limits {
  std::string type;
  std::uint32_t workers = 1;
  bool limited = false;
  std::uint32_t per_host = 0;  ///< 0: unlimited
  double rate = 0;             ///< requests/s per origin; 0: unlimited
  double burst = 1;
  std::string rate_text;  ///< as written (`2/s`)
};

consumer_limits limits_of(const pipeline_config& cfg) {
  consumer_limits l;
  l.type = cfg.consumer.info->name;
  l.workers = std::max<std::uint32_t>(cfg.workers, 1);
  if (l.type == "http") {
    // The consumer's own parse: the same defaults and rate syntax as a run.
    auto c = stages::http::parse_config(cfg.consumer.opts, nullptr);
    l.limited = true;
    // `per_host: auto` forecasts at its ceiling, the most it can reach.
    l.per_host = c.per_host_auto ? c.adaptive_max : c.per_host;
    l.rate = c.rate_per_sec;
    l.burst = c.rate_burst;
    l.rate_text = cfg.consumer.opts.has("rate") ? cfg.consumer.opts.get_string("rate") : "";
  }
  return l;
}

/// One origin's forecast: the larger of its rate term and its concurrency
/// term, and which one it is.
struct origin_forecast {
  double seconds = 0;
  std::string limit;  ///< "rate 2/s", "per_host 4", "workers 16"
};

origin_forecast forecast_origin(std::uint64_t count, const consumer_limits& l, double latency) {
  const auto n = static_cast<double>(count);
  const bool by_host = l.per_host > 0 && l.per_host < l.workers;
  const double conc = by_host ? l.per_host : l.workers;
  const double t_conc = n * latency / conc;
  const double t_rate = l.rate > 0 ? n / l.rate : 0;
  if (l.rate > 0 && t_rate >= t_conc) {
    return {t_rate, "rate " + l.rate_text};
  }
  return {t_conc,
          by_host ? fmt::format("per_host {}", l.per_host) : fmt::format("workers {}", l.workers)};
}

const char* plural(std::uint64_t n) {
  return n == 1 ? "" : "s";
}

std::string group(std::uint64_t v) {
  auto s = std::to_string(v);
  for (auto i = static_cast<std::ptrdiff_t>(s.size()) - 3; i > 0; i -= 3) {
    s.insert(static_cast<std::size_t>(i), ",");
  }
  return s;
}

struct invalid_example {
  std::string url;
  std::string reason;
};

/// Everything counted, and the forecast made of it.
struct plan_data {
  std::string file;
  consumer_limits limits;
  double latency = 0;
  std::uint64_t urls = 0;
  std::uint64_t invalid = 0;
  std::vector<invalid_example> invalid_examples;  ///< the first few, truncated
  std::unique_ptr<origin_counter> origins;
  std::vector<origin_count> top;
  std::vector<origin_forecast> top_forecast;
  double workers_seconds = 0;
  double seconds = 0;
  bool origin_bound = false;  ///< the bottleneck is top[0]'s origin, not the workers
  bool dedup = false;
};

constexpr std::size_t invalid_examples_kept = 3;
constexpr std::size_t example_chars = 200;

// An invalid line as shown: its first bytes, with anything but printable
// ASCII written `\xNN`, so a hostile line can neither drive the terminal
// (escape sequences) nor make the JSON document invalid UTF-8.
std::string example_text(std::string_view line) {
  std::string out;
  for (unsigned char c : line.substr(0, example_chars)) {
    if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return line.size() > example_chars ? out + "..." : out;
}

void count_batch(plan_data& d, origin_parser& parser, const std::vector<item>& batch) {
  for (const auto& it : batch) {
    ++d.urls;
    auto why = parser.parse(it.url);
    if (why.empty()) {
      d.origins->add(parser.key());
      continue;
    }
    ++d.invalid;
    if (d.invalid_examples.size() < invalid_examples_kept) {
      d.invalid_examples.push_back({example_text(it.url), std::move(why)});
    }
  }
}

// The forecast (docs/plan.md): every origin's time grows with its count
// under the same limits, so the slowest origin is the largest one.
void make_forecast(plan_data& d, std::size_t top) {
  d.top = d.origins->top(top);
  const auto largest = d.origins->top(1);
  const auto valid = d.urls - d.invalid;
  d.workers_seconds = static_cast<double>(valid) * d.latency / d.limits.workers;
  d.seconds = d.workers_seconds;
  for (const auto& c : d.top) {
    d.top_forecast.push_back(forecast_origin(c.count, d.limits, d.latency));
  }
  if (d.limits.limited && !largest.empty()) {
    auto f = forecast_origin(largest.front().count, d.limits, d.latency);
    if (f.seconds > d.workers_seconds) {
      d.seconds = f.seconds;
      d.origin_bound = true;
    }
  }
}

std::string consumer_line(const consumer_limits& l, double latency) {
  std::string s = fmt::format("consumer {} x{}", l.type, l.workers);
  if (l.limited) {
    s += l.per_host > 0 ? fmt::format(", per_host {}", l.per_host) : ", per_host unlimited";
    s += l.rate > 0 ? fmt::format(", rate {} (burst {})", l.rate_text, l.burst) : ", no rate";
  } else {
    s += " (no per-origin limits: the forecast uses workers and latency only)";
  }
  return s + fmt::format("; assumed latency {} per request", format_span(latency));
}

std::string count_text(const origin_count& c) {
  return c.error == 0 ? group(c.count)
                      : fmt::format("<={} (over by <={})", group(c.count), group(c.error));
}

void print_text(const plan_data& d) {
  const auto& o = *d.origins;
  fmt::print("plan: {}: {} URL{}, {}{} origin{}, {} invalid\n", d.file, group(d.urls),
             plural(d.urls), o.approximate() ? "more than " : "", group(o.exact_origins()),
             plural(o.exact_origins() + o.summarised()), group(d.invalid));
  fmt::print("{}\n", consumer_line(d.limits, d.latency));
  if (d.dedup) {
    fmt::print("note: dedup is on: repeated URLs are counted here; the run fetches each once\n");
  }
  if (o.approximate()) {
    fmt::print(
        "note: more than {} distinct origins: the first {} are counted exactly; the {} URLs "
        "of later origins went to a top-{} summary (Space-Saving), whose counts are upper "
        "bounds (over by at most {})\n",
        group(o.exact_origins()), group(o.exact_origins()), group(o.summarised()),
        group(o.summary_size()), group(o.max_error()));
  }
  if (!d.top.empty()) {
    fmt::print("top {} origin{} by URLs:\n", d.top.size(), plural(d.top.size()));
  }
  std::uint64_t shown = 0;
  for (std::size_t i = 0; i < d.top.size(); ++i) {
    const auto& c = d.top[i];
    shown += c.count;
    if (!d.limits.limited) {
      fmt::print("  {}: {} URL{}\n", c.origin, count_text(c), plural(c.count));
      continue;
    }
    const auto& f = d.top_forecast[i];
    fmt::print("  {}: {} URL{} at {} -> {}{}\n", c.origin, count_text(c), plural(c.count), f.limit,
               format_span(f.seconds), i == 0 && d.origin_bound ? " (the bottleneck)" : "");
  }
  const auto valid = d.urls - d.invalid;
  if (!o.approximate() && d.top.size() < o.exact_origins()) {
    const auto more = o.exact_origins() - d.top.size();
    fmt::print("  ({} more origin{}: {} URL{})\n", group(more), plural(more), group(valid - shown),
               plural(valid - shown));
  }
  if (d.invalid > 0) {
    fmt::print("  invalid: {} URL{}\n", group(d.invalid), plural(d.invalid));
    for (const auto& e : d.invalid_examples) {
      fmt::print("    e.g. \"{}\": {}\n", e.url, e.reason);
    }
  }
  fmt::print("workers: {} URL{} x {} / {} worker{} -> {}{}\n", group(valid), plural(valid),
             format_span(d.latency), d.limits.workers, plural(d.limits.workers),
             format_span(d.workers_seconds),
             d.origin_bound || valid == 0 ? "" : " (the bottleneck)");
  if (d.origin_bound) {
    fmt::print("total: {} URLs -> {}; the bottleneck: origin {} ({})\n", group(valid),
               format_span(d.seconds), d.top.front().origin, d.top_forecast.front().limit);
  } else {
    fmt::print(
        "total: {} URLs -> {}; the bottleneck: {}\n", group(valid), format_span(d.seconds),
        valid == 0 ? "none (nothing to fetch)" : fmt::format("workers {}", d.limits.workers));
  }
}

json::object consumer_json(const consumer_limits& l) {
  json::object c{{"type", l.type}, {"workers", l.workers}, {"per_origin_limits", l.limited}};
  if (l.limited) {
    c["per_host"] = l.per_host;
    c["rate_per_s"] = l.rate;
    c["rate"] = l.rate_text;
    c["burst"] = l.burst;
  }
  return c;
}

json::object origins_json(const plan_data& d) {
  json::array top;
  for (std::size_t i = 0; i < d.top.size(); ++i) {
    json::object e{{"origin", d.top[i].origin},
                   {"urls", d.top[i].count},
                   {"error", d.top[i].error},
                   {"seconds", d.top_forecast[i].seconds},
                   {"duration", format_span(d.top_forecast[i].seconds)}};
    if (d.limits.limited) {
      e["limit"] = d.top_forecast[i].limit;
    }
    top.push_back(std::move(e));
  }
  const auto& o = *d.origins;
  return {{"exact", !o.approximate()},
          {"counted_exactly", o.exact_origins()},
          {"summarised_urls", o.summarised()},
          {"summary_size", o.summary_size()},
          {"summary_origins", o.summary_origins()},
          {"max_error", o.max_error()},
          {"top", std::move(top)}};
}

void print_json(const plan_data& d) {
  json::array examples;
  for (const auto& e : d.invalid_examples) {
    examples.push_back(json::object{{"url", e.url}, {"reason", e.reason}});
  }
  json::object bottleneck;
  if (d.origin_bound) {
    bottleneck = {{"kind", "origin"},
                  {"origin", d.top.front().origin},
                  {"limit", d.top_forecast.front().limit}};
  } else {
    bottleneck = {{"kind", d.urls > d.invalid ? "workers" : "none"}};
  }
  json::object doc{
      {"file", d.file},
      {"consumer", consumer_json(d.limits)},
      {"latency_s", d.latency},
      {"dedup", d.dedup},
      {"urls", d.urls},
      {"valid", d.urls - d.invalid},
      {"invalid", d.invalid},
      {"invalid_examples", std::move(examples)},
      {"origins", origins_json(d)},
      {"workers_seconds", d.workers_seconds},
      {"forecast",
       {{"seconds", d.seconds}, {"duration", format_span(d.seconds)}, {"bottleneck", bottleneck}}},
  };
  fmt::print("{}\n", sluice::to_json_text(doc));
}

int run_plan(app_state& state, const plan_options& a) {
  auto cfg = load_for_command(state, a.file, a.overrides);
  if (!cfg) {
    return 2;
  }
  plan_data d;
  d.file = a.file;
  d.latency = std::chrono::duration<double>(*parse_duration(a.latency)).count();
  d.dedup = !cfg->dedup.empty();
  try {
    d.limits = limits_of(*cfg);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: consumer: {}\n", a.file, e.what());
    return 2;
  }
  d.origins = std::make_unique<origin_counter>(
      a.exact_origins, std::max<std::size_t>({a.exact_origins / 10, a.top, 1}));
  origin_parser parser;
  auto rep = drain_producers(*cfg, [&](const std::vector<item>& b) { count_batch(d, parser, b); });
  if (rep.exit_code != 0) {
    fmt::print(stderr, "{}\n", rep.error);
    return rep.exit_code;
  }
  make_forecast(d, a.top);
  if (a.json) {
    print_json(d);
  } else {
    print_text(d);
  }
  return 0;
}

}  // namespace

void add_plan_command(CLI::App& app, app_state& state) {
  auto o = std::make_shared<plan_options>();
  auto* cmd = app.add_subcommand(
      "plan",
      "count a pipeline's URLs per origin (running only its producers, fetching nothing) and "
      "forecast the run's duration from workers, per_host, rate and an assumed latency");
  cmd->add_option("file", o->file, "the pipeline file (YAML)")->required()->type_name("FILE");
  cmd->add_option("--set", o->overrides,
                  "override a value of the file: key.path=value (lists by index); repeatable")
      ->type_name("KEY=VALUE");
  cmd->add_flag("--json", o->json, "print one JSON document instead of text");
  cmd->add_option("--latency", o->latency, "assumed time of one request")
      ->type_name("DURATION")
      ->check([](const std::string& v) -> std::string {
        return parse_duration(v) ? "" : "expected a duration such as 200ms, 1.5s or 0";
      })
      ->capture_default_str();
  cmd->add_option("--top", o->top, "show the N origins with the most URLs (0: all)")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1'000'000}))
      ->capture_default_str();
  cmd->add_option("--exact-origins", o->exact_origins,
                  "count this many distinct origins exactly; later ones go to a bounded top-K "
                  "summary")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}))
      ->capture_default_str();
  cmd->footer(
      "Example:\n"
      "  sluice plan pipelines/http-polite.yaml --latency 50ms --top 5\n"
      "  sluice plan crawl.yaml --set consumers.rate=10/s --json\n"
      "See docs/plan.md for the forecast's model.");
  cmd->callback([&state, o] { state.exit_code = run_plan(state, *o); });
}

}  // namespace sluice::cli
