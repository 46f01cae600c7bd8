// libFuzzer harness: the pipeline loader (YAML parse, `${}` interpolation,
// `--set` overrides, validation of every built-in stage's options) fed any
// text. It never throws and never crashes; it returns a config or at least
// one diagnostic, each with a message and a line inside the file. Plugins
// named by the text are refused, not loaded.
#include <cstdlib>
#include <string>

#include "sluice/config/config.hpp"
#include "sluice/stages/builtin.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static sluice::registry* reg = [] {
    auto* r = new sluice::registry;
    sluice::register_builtin_stages(*r);
    return r;
  }();
  std::string text(reinterpret_cast<const char*>(data), size);
  sluice::load_options opts;
  opts.load_plugin = [](const std::string&) { return std::string("the fuzzer loads no plugin"); };
  sluice::load_result res;
  try {
    res = sluice::load_pipeline_text(text, "fuzz.yaml", *reg, opts);
  } catch (...) {
    std::abort();  // bad input must become diagnostics
  }
  if (res.config.has_value() == !res.diagnostics.empty()) {
    std::abort();  // exactly one of a config and diagnostics
  }
  long lines = 1;
  for (char c : text) {
    lines += c == '\n' || c == '\r';
  }
  for (const auto& d : res.diagnostics) {
    if (d.message.empty() || d.line < 0 || d.column < 0 || d.line > lines) {
      std::abort();
    }
    (void)sluice::format_diagnostic(d);
  }
  return 0;
}
