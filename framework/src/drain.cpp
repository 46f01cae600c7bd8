// drain_producers: the producers of a pipeline, run on their own.
#include "sluice/runtime/drain.hpp"

#include <exception>
#include <memory>
#include <system_error>

#include <fmt/core.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sluice/core/error.hpp"
#include "sluice/stage/registry.hpp"
#include "temp_area.hpp"

namespace sluice {

namespace {

namespace net = boost::asio;

// The producer contexts are what the runtime gives them (the pipeline's
// directory for relative paths, a private temporary directory), so a
// producer behaves here as it does in `sluice run`.
stage_context context_for(const pipeline_config& cfg, const stage_decl& d, net::any_io_executor ex,
                          const std::filesystem::path& temp_dir) {
  stage_context ctx;
  ctx.name = d.display_name;
  ctx.type = d.info->name;
  ctx.opts = d.opts;
  ctx.executor = std::move(ex);
  ctx.base_dir = std::filesystem::path(cfg.file).parent_path();
  ctx.temp_dir = temp_dir;
  return ctx;
}

std::string config_diagnostic(const pipeline_config& cfg, const stage_decl& d,
                              const config_error& e) {
  auto it = d.marks.find(e.option());
  if (it == d.marks.end()) {
    it = d.marks.find("");
  }
  source_mark m = it != d.marks.end() ? it->second : source_mark{};
  return format_diagnostic(diagnostic{
      .file = cfg.file, .line = m.line, .column = m.column, .path = d.path, .message = e.what()});
}

// Removes the temporary directory however draining ends.
struct temp_dir_guard {
  std::filesystem::path path;
  ~temp_dir_guard() {
    std::error_code ec;
    if (!path.empty()) {
      std::filesystem::remove_all(path, ec);
    }
  }
};

}  // namespace

drain_report drain_producers(const pipeline_config& cfg,
                             const std::function<void(const std::vector<item>&)>& on_batch,
                             std::size_t batch_size) {
  drain_report report;
  net::io_context ioc(1);
  temp_dir_guard temp{detail::make_run_temp_dir()};
  std::vector<std::unique_ptr<producer>> producers;
  std::vector<net::strand<net::io_context::executor_type>> strands;
  const stage_decl* current = nullptr;
  try {
    for (const auto& d : cfg.producers) {
      current = &d;
      strands.push_back(net::make_strand(ioc));
      producers.push_back(d.info->make_producer(context_for(cfg, d, strands.back(), temp.path)));
    }
  } catch (const config_error& e) {
    report.exit_code = 2;
    report.error = config_diagnostic(cfg, *current, e);
    return report;
  } catch (const std::exception& e) {
    report.exit_code = 1;
    report.error = fmt::format("{}: {}", current->display_name, e.what());
    return report;
  }
  for (std::size_t i = 0; i < producers.size(); ++i) {
    auto drive = [&report, &on_batch, batch_size, &prod = *producers[i]]() -> net::awaitable<void> {
      std::vector<item> batch;
      batch.reserve(batch_size);
      for (bool more = true; more;) {
        batch.clear();
        more = co_await prod.next(batch, batch_size);
        report.items += batch.size();
        on_batch(batch);
      }
    };
    std::exception_ptr failure;
    net::co_spawn(strands[i], drive(), [&failure](std::exception_ptr e) { failure = e; });
    ioc.restart();
    ioc.run();
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        report.error = fmt::format("{}: {}", cfg.producers[i].display_name, e.what());
      } catch (...) {
        report.error = cfg.producers[i].display_name + ": unknown exception";
      }
      report.exit_code = 1;
      return report;
    }
  }
  return report;
}

}  // namespace sluice
