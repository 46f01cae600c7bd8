// Private to the http consumer: reading its `hosts:` rules (the patterns'
// own functions are declared in http_config.hpp).
#pragma once

#include <functional>
#include <memory>

#include "http_config.hpp"
#include "sluice/core/error.hpp"

namespace sluice::stages::http {

/// Reads one rule's keys over the consumer's config (http_config.cpp).
using rule_parser =
    std::function<std::shared_ptr<const config>(const options&, config_error_list&)>;

/// Reads `hosts:` into `c.hosts` in order; a malformed pattern, or one an
/// earlier rule covers entirely (it could never be the first match), is an
/// error at its `match`; errors inside a rule get its `hosts[i].` prefix.
/// Thread safety: pure but for its arguments.
void parse_hosts(const options& o, config& c, config_error_list& errs,
                 const rule_parser& parse_rule);

/// A rule's `headers` over the consumer's: the same name (any case) replaces.
/// Thread safety: pure but for `c`.
void parse_rule_headers(const options& o, config& c);

}  // namespace sluice::stages::http
