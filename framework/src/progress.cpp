// Interim progress reporter: plain periodic lines on stderr.
#include "sluice/runtime/progress.hpp"

#include <fmt/core.h>

namespace sluice {

namespace {
class line_progress final : public progress_reporter {
 public:
  explicit line_progress(double interval) : interval_(interval) {}
  void update(const progress_snapshot& s) override {
    if (s.elapsed_s - last_ < interval_) {
      return;
    }
    last_ = s.elapsed_s;
    print(s);
  }
  void finish(const progress_snapshot& s) override { print(s); }

 private:
  void print(const progress_snapshot& s) {
    fmt::print(stderr, "progress: {} done, {} failed, {} in flight, {:.1f}s\n", s.done, s.failed,
               s.in_flight, s.elapsed_s);
  }
  double interval_;
  double last_ = 0;
};
}  // namespace

std::unique_ptr<progress_reporter> make_stderr_progress(double log_interval_s) {
  return std::make_unique<line_progress>(log_interval_s);
}

}  // namespace sluice
