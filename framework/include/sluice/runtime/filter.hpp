// `when:` filters that decide which results a sink receives.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "sluice/core/item.hpp"

namespace sluice {

/// A compiled `when:` expression over a result, for example
/// `ok`, `!ok`, `status >= 200 && status < 300`, `status == 2xx`,
/// `error_class == "timeout" || bytes > 1000000` (error_class: the class of
/// error_kind in sluice/core/fetch_error.hpp).
/// Thread safety: immutable after parse; `matches` is safe from any thread.
class result_filter {
 public:
  virtual ~result_filter() = default;
  virtual bool matches(const result& r) const = 0;

  /// Compiles `expr`; on failure returns nullptr and sets `error` (with the
  /// 0-based column of the problem in `error_column`).
  static std::shared_ptr<const result_filter> parse(const std::string& expr, std::string& error,
                                                    int& error_column);
};

}  // namespace sluice
