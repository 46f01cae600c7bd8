// Framework error conditions as an error_code category (Beast's pattern).
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

namespace sluice {

/// Conditions the framework reports through `boost::system::error_code`.
enum class errc {
  closed = 1,    ///< the queue was closed and is empty
  cancelled,     ///< the operation was cancelled by a shutdown
  stage_failed,  ///< a stage threw; the pipeline is stopping
};

/// The category of `sluice::errc`.
/// Thread safety: the returned object is immutable.
const boost::system::error_category& error_category() noexcept;

/// Makes an error_code from a `sluice::errc`.
inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// Thrown by a stage factory (or anything that validates options) to report a
/// configuration problem; the loader prints it at the line:column of `option`
/// (or of the stage when `option` is empty) and exits with code 2.
/// Thread safety: a plain exception value.
class config_error : public std::runtime_error {
 public:
  config_error(std::string option, const std::string& message)
      : std::runtime_error(message), option_(std::move(option)) {}
  const std::string& option() const noexcept { return option_; }

 private:
  std::string option_;
};

/// Several configuration problems of one stage, thrown together so that
/// `sluice check` reports every one of them in one pass. It is a
/// config_error (the first problem), so code that catches config_error still
/// sees one. Made by config_error_list::throw_if_any.
/// Thread safety: a plain exception value.
class config_errors : public config_error {
 public:
  explicit config_errors(std::vector<config_error> errors)
      : config_error(errors.at(0).option(), errors.at(0).what()), errors_(std::move(errors)) {}
  /// Every problem, in the order found (never empty).
  const std::vector<config_error>& errors() const noexcept { return errors_; }

 private:
  std::vector<config_error> errors_;
};

/// Collects the config_errors of a stage's `validate` instead of stopping at
/// the first: `errs.check([&] { parse_rate(o); });` records what the call
/// throws (one config_error, or each of a config_errors), `errs.add(...)`
/// records one directly, and `errs.throw_if_any()` at the end throws them
/// all as one config_errors. `option` is the option's path inside the stage:
/// `rate`, `retry.on`, `retry.on[1]` (a list item) — the loader reports each
/// at that line:column.
/// Thread safety: none; one collector per validation.
class config_error_list {
 public:
  void add(std::string option, const std::string& message) {
    errors_.emplace_back(std::move(option), message);
  }
  void add(const config_error& e) {
    if (const auto* many = dynamic_cast<const config_errors*>(&e)) {
      errors_.insert(errors_.end(), many->errors().begin(), many->errors().end());
    } else {
      errors_.push_back(e);
    }
  }
  template <class F>
  void check(F&& f) {
    try {
      std::forward<F>(f)();
    } catch (const config_error& e) {
      add(e);
    }
  }
  bool empty() const noexcept { return errors_.empty(); }
  void throw_if_any() const {
    if (!errors_.empty()) {
      throw config_errors(errors_);
    }
  }

 private:
  std::vector<config_error> errors_;
};

}  // namespace sluice

namespace boost::system {
template <>
struct is_error_code_enum<sluice::errc> : std::true_type {};
}  // namespace boost::system
