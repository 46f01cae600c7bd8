#include "sluice/core/error.hpp"

namespace sluice {

namespace {
class category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sluice"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::closed:
        return "queue closed";
      case errc::cancelled:
        return "cancelled by shutdown";
      case errc::stage_failed:
        return "a stage failed";
    }
    return "unknown sluice error";
  }
};
}  // namespace

const boost::system::error_category& error_category() noexcept {
  static const category_impl instance;
  return instance;
}

}  // namespace sluice
