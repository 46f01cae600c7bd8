// libFuzzer harness: robots.txt parsing and matching. The input is a product
// token, a path and a robots.txt, separated by the first two NUL bytes
// (missing parts are empty). Parsing and matching terminate (the matcher is
// polynomial); every rule's pattern is percent-normalised (normalising it
// again changes nothing) and starts with `/` or `*`; a path and its
// normalised form get the same verdict; `/robots.txt` is always allowed;
// the file cut at the parse limit gives the same rules.
#include <cstdlib>
#include <string>
#include <string_view>

#include "robots.hpp"

namespace hd = sluice::stages::http;

namespace {

std::string_view next_part(std::string_view& in) {
  auto nul = in.find('\0');
  auto part = in.substr(0, nul);
  in = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  return part;
}

bool same_rules(const hd::robots_rules& a, const hd::robots_rules& b) {
  if (a.rules.size() != b.rules.size() || a.crawl_delay != b.crawl_delay) {
    return false;
  }
  for (std::size_t i = 0; i < a.rules.size(); ++i) {
    if (a.rules[i].pattern != b.rules[i].pattern || a.rules[i].allow != b.rules[i].allow) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto token = next_part(in);
  auto path = next_part(in);
  auto rules = hd::parse_robots(in, token);
  for (const auto& r : rules.rules) {
    if (r.pattern.empty() || (r.pattern.front() != '/' && r.pattern.front() != '*') ||
        hd::robots_normalize(r.pattern) != r.pattern) {
      std::abort();
    }
  }
  if (rules.crawl_delay && !(*rules.crawl_delay > 0)) {
    std::abort();
  }
  auto v = rules.check(path);
  if (v.allowed != rules.check(hd::robots_normalize(path)).allowed) {
    std::abort();
  }
  if (v.rule != nullptr && v.rule->allow != v.allowed) {
    std::abort();
  }
  if (!rules.check("/robots.txt").allowed) {
    std::abort();
  }
  if (!same_rules(rules, hd::parse_robots(in.substr(0, hd::k_robots_parse_limit), token))) {
    std::abort();
  }
  return 0;
}
