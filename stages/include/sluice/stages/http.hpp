// The `http` consumer: fetches each item's URL with Boost.Beast.
#pragma once

#include "sluice/stage/registry.hpp"

namespace sluice {

/// Registers the `http` consumer (see docs/http.md for its options).
/// Thread safety: as registry::add.
void register_http_stages(registry& reg);

}  // namespace sluice
