// The http consumer's `cookies` option: `true`/`false`, or `{file: jar.txt}`
// (a Netscape cookie file loaded at the start, written back at the end).
#include <boost/json.hpp>

#include "http_config.hpp"
#include "sluice/core/error.hpp"

namespace sluice::stages::http {

option_spec cookies_option(const config& d) {
  option_spec s = object_option(
      "cookies",
      "A cookie jar (RFC 6265) shared by all workers: `true`, or `{file: jar.txt}` to load a "
      "Netscape cookie file (curl -b/-c, wget --load-cookies) at the start and write it back at "
      "the end; see docs/http.md#cookies",
      {make_option("file", option_type::string, d.cookies_file,
                   "Netscape cookie file, read if it exists and written (atomically) when the "
                   "run ends; relative to the pipeline file")});
  s.boolean_shorthand = true;
  s.default_value = default_of(d.cookies);
  return s;
}

void parse_cookies(const options& o, const stage_context* ctx, config& c, config_error_list& errs) {
  if (!o.has("cookies")) {
    return;
  }
  const auto& v = o.json().at("cookies");
  if (v.is_bool()) {
    c.cookies = v.as_bool();
    return;
  }
  if (!v.is_object()) {
    errs.add("cookies", "cookies must be true, false or a mapping such as {file: jar.txt}");
    return;
  }
  c.cookies = true;
  options jar = o.get_object("cookies");
  if (jar.has("file")) {
    std::string f = jar.get_string("file");
    if (!f.empty()) {
      c.cookies_file = ctx ? ctx->resolve(f).string() : f;
    }
  }
}

}  // namespace sluice::stages::http
