// URL templates with an index placeholder: `{i}`, zero-padded `{i:06}`;
// `{{` and `}}` are literal braces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::stages::core {

/// A compiled template.
/// Thread safety: immutable after construction.
class url_template {
 public:
  /// Compiles `text`; throws std::invalid_argument with a message on a bad placeholder.
  explicit url_template(const std::string& text);

  /// Appends the expansion for index `i` to `out`.
  void expand(std::int64_t i, std::string& out) const;

 private:
  struct part {
    std::string literal;
    bool index = false;
    int width = 0;
  };
  std::vector<part> parts_;
};

}  // namespace sluice::stages::core
