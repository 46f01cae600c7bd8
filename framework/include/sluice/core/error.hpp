// Framework error conditions as an error_code category (Beast's pattern).
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

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

}  // namespace sluice

namespace boost::system {
template <>
struct is_error_code_enum<sluice::errc> : std::true_type {};
}  // namespace boost::system
