// Interim `when:` filter: `ok` and `!ok` only (the full expression language
// lands with the sinks work).
#include "sluice/runtime/filter.hpp"

namespace sluice {

namespace {
class ok_filter final : public result_filter {
 public:
  explicit ok_filter(bool want) : want_(want) {}
  bool matches(const result& r) const override { return r.ok() == want_; }

 private:
  bool want_;
};
}  // namespace

std::shared_ptr<const result_filter> result_filter::parse(const std::string& expr,
                                                          std::string& error, int& error_column) {
  if (expr == "ok") {
    return std::make_shared<ok_filter>(true);
  }
  if (expr == "!ok") {
    return std::make_shared<ok_filter>(false);
  }
  error = "unsupported filter '" + expr + "' (use ok or !ok)";
  error_column = 0;
  return nullptr;
}

}  // namespace sluice
