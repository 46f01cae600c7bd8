// Requests as data: the `jsonl` producer (one JSON object per line) and the
// `csv` producer (a header row naming the columns), each record a request
// {url, method?, headers?, body?, body_file?, meta?}. Both stream their file
// as the `file` producer does (a batch of lines per call, memory bounded by
// `max_record`) and resume by byte offset. A record that is not a request
// becomes an item that fails with `bad_record` (or `bad_url`) and the file's
// line in the message: data, never fatal and never skipped silently.
#include <csv.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <boost/asio/awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "core_parts.hpp"
#include "sluice/core/error.hpp"
#include "sluice/core/fetch_error.hpp"

namespace sluice::stages::core {

namespace json = boost::json;

namespace {

constexpr std::uint64_t k_default_max_record = 16ull << 20;

/// RFC 9110 `token` (a method, a field name).
bool is_token(std::string_view s) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || extra.find(c) != std::string_view::npos;
  });
}

/// A field value may not carry CR, LF or NUL: each would let a record
/// inject fields or a second request.
bool is_field_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

/// A physical line of the input: its bytes (without the newline), its
/// 1-based number and the offset just after it. Lines longer than the limit
/// are consumed but not kept (`too_long`), so memory stays bounded.
struct line {
  std::string text;
  std::uint64_t number = 0;
  std::uint64_t end_offset = 0;
  bool too_long = false;
  bool terminated = false;  ///< ended by '\n' (not by the end of the file)
};

/// Reads `in` line by line, counting bytes (not tellg: cheap and exact).
/// Thread safety: one caller.
class line_reader {
 public:
  line_reader(std::istream& in, std::uint64_t max_line) : in_(in), max_(max_line) {}

  /// The next line, false at the end of the input.
  bool next(line& out) {
    out.text.clear();
    out.too_long = false;
    out.terminated = false;
    auto* buf = in_.rdbuf();
    bool any = false;
    for (int c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
      any = true;
      ++offset_;
      if (c == '\n') {
        out.terminated = true;
        break;
      }
      if (out.text.size() < max_) {
        out.text.push_back(static_cast<char>(c));
      } else {
        out.too_long = true;
      }
    }
    if (!any) {
      return false;
    }
    out.number = ++line_no_;
    out.end_offset = offset_;
    return true;
  }

  /// Continues at `offset` (a line's end). The lines before it are read and
  /// counted, not kept, so messages after a resume name the right line.
  void seek(std::uint64_t offset) {
    in_.clear();
    in_.seekg(0);
    offset_ = 0;
    line_no_ = 0;
    auto* buf = in_.rdbuf();
    while (offset_ < offset) {
      int c = buf->sbumpc();
      if (c == std::char_traits<char>::eof()) {
        break;
      }
      ++offset_;
      if (c == '\n') {
        ++line_no_;
      }
    }
  }

  std::uint64_t line_no() const noexcept { return line_no_; }

 private:
  std::istream& in_;
  std::uint64_t max_;
  std::uint64_t offset_ = 0;
  std::uint64_t line_no_ = 0;
};

/// Turns the fields of one record into a request_spec; every problem is
/// recorded as the spec's error (the first one wins).
class spec_builder {
 public:
  spec_builder(std::string source, std::filesystem::path dir, const boost::urls::url* base)
      : dir_(std::move(dir)), base_(base) {
    spec_.source = std::move(source);
  }

  bool failed() const noexcept { return !spec_.error_kind.empty(); }

  void fail(fetch_errc kind, const std::string& why) {
    if (!failed()) {
      spec_.error_kind = name(kind);
      spec_.error_message = spec_.source + ": " + why;
    }
  }

  void url(std::string u) {
    if (u.empty()) {
      fail(fetch_errc::bad_record, "no url");
      return;
    }
    if (base_) {
      // Resolved against an owning url (boostorg/url#872), as fetch does.
      auto ref = boost::urls::parse_uri_reference(u);
      boost::urls::url out;
      if (!ref || !boost::urls::resolve(*base_, *ref, out)) {
        fail(fetch_errc::bad_url,
             fmt::format("bad url '{}': {}", u,
                         ref ? "cannot resolve it against base_url" : ref.error().message()));
      } else {
        u = std::string(out.buffer());
      }
    } else if (auto parsed = boost::urls::parse_uri(u); !parsed) {
      fail(fetch_errc::bad_url, fmt::format("bad url '{}': {}", u, parsed.error().message()));
    }
    // Records are HTTP requests: another scheme fails here, with its line
    // (a bare-URL item carries no source for the consumer to name).
    if (auto parsed = boost::urls::parse_uri(u);
        parsed && parsed->scheme_id() != boost::urls::scheme::http &&
        parsed->scheme_id() != boost::urls::scheme::https) {
      fail(fetch_errc::bad_url,
           fmt::format("bad url '{}': scheme '{}' is not http or https", u, parsed->scheme()));
    }
    url_ = std::move(u);
  }

  void method(std::string m) {
    if (!is_token(m)) {
      fail(fetch_errc::bad_record, fmt::format("method '{}' is not an HTTP token", m));
    }
    spec_.method = std::move(m);
  }

  void header(std::string n, std::string v) {
    if (!is_token(n)) {
      fail(fetch_errc::bad_record, fmt::format("header name '{}' is not an HTTP token", n));
    } else if (iequals(n, "content-length") || iequals(n, "transfer-encoding")) {
      // The body's framing is the consumer's: a record's own would let it
      // smuggle a second request onto a pooled connection.
      fail(fetch_errc::bad_record, fmt::format("header '{}' is set by sluice, not a record", n));
    } else if (!is_field_value(v)) {
      fail(fetch_errc::bad_record, fmt::format("header '{}' has CR, LF or NUL in its value", n));
    }
    spec_.headers.emplace_back(std::move(n), std::move(v));
  }

  void body(std::string b) { spec_.body = std::move(b); }

  /// A relative body_file is relative to the input file's directory, so an
  /// input file and its bodies move together.
  void body_file(const std::string& p) {
    if (p.empty()) {
      fail(fetch_errc::bad_record, "body_file is empty");
      return;
    }
    std::filesystem::path path(p);
    spec_.body_file = (path.is_absolute() ? path : dir_ / path).lexically_normal().string();
  }

  void meta(std::string serialized) { spec_.meta = std::move(serialized); }

  /// The item: null spec when the record is a bare URL (the cheap path).
  item finish(std::uint64_t index, std::uint64_t resume_offset) {
    if (!failed() && url_.empty()) {
      fail(fetch_errc::bad_record, "no url");
    }
    if (!failed() && spec_.body && !spec_.body_file.empty()) {
      fail(fetch_errc::bad_record, "both body and body_file");
    }
    item it{std::move(url_), index};
    it.resume_offset = resume_offset;
    if (failed() || spec_.overrides_request() || !spec_.meta.empty()) {
      it.request = std::make_shared<const request_spec>(std::move(spec_));
    }
    return it;
  }

 private:
  request_spec spec_;
  std::string url_;
  std::filesystem::path dir_;
  const boost::urls::url* base_;
};

std::string type_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
    default:
      return "a number";
  }
}

/// One JSON line into `b`.
void read_json_record(std::string_view text, spec_builder& b) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    b.fail(fetch_errc::bad_record, "not JSON: " + ec.message());
    return;
  }
  if (!v.is_object()) {
    b.fail(fetch_errc::bad_record, "the record is " + type_name(v) + ", not an object");
    return;
  }
  auto want_string = [&](std::string_view key, const json::value& f) {
    if (!f.is_string()) {
      b.fail(fetch_errc::bad_record, fmt::format("{} is {}, not a string", key, type_name(f)));
      return std::string();
    }
    return std::string(f.get_string());
  };
  for (const auto& [key, f] : v.get_object()) {
    if (key == "url") {
      b.url(want_string(key, f));
    } else if (key == "method") {
      b.method(want_string(key, f));
    } else if (key == "body") {
      b.body(want_string(key, f));
    } else if (key == "body_file") {
      b.body_file(want_string(key, f));
    } else if (key == "headers") {
      if (!f.is_object()) {
        b.fail(fetch_errc::bad_record, "headers is " + type_name(f) + ", not an object");
        continue;
      }
      for (const auto& [hn, hv] : f.get_object()) {
        b.header(std::string(hn), want_string(fmt::format("headers.{}", std::string(hn)), hv));
      }
    } else if (key == "meta") {
      if (!f.is_object()) {
        b.fail(fetch_errc::bad_record, "meta is " + type_name(f) + ", not an object");
        continue;
      }
      b.meta(json::serialize(f));
    } else {
      b.fail(fetch_errc::bad_record,
             fmt::format("unknown field '{}' (url, method, headers, body, body_file, meta; "
                         "put your own data in meta)",
                         std::string(key)));
    }
  }
}

/// The `base_url` option, parsed; nullopt when not set.
std::optional<boost::urls::url> base_url_of(const options& o) {
  auto text = o.has("base_url") ? o.get_string("base_url") : std::string();
  if (text.empty()) {
    return std::nullopt;
  }
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) {
    throw config_error("base_url", fmt::format("base_url '{}' is not an absolute URL: {}", text,
                                               parsed.error().message()));
  }
  return boost::urls::url(*parsed);
}

std::ifstream open_input(const stage_context& ctx) {
  auto path = ctx.resolve(ctx.opts.get_string("path"));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error("path", "cannot open request file '" + path.string() + "'");
  }
  return in;
}

/// The `jsonl` producer.
class jsonl_producer final : public producer {
 public:
  explicit jsonl_producer(const stage_context& ctx)
      : path_(ctx.resolve(ctx.opts.get_string("path"))),
        dir_(path_.parent_path()),
        base_(base_url_of(ctx.opts)),
        file_(open_input(ctx)),
        max_(ctx.opts.get_size("max_record")),
        lines_(file_, max_) {}

  // Reads synchronously on the stage's strand, as `file` does.
  boost::asio::awaitable<bool> next(std::vector<item>& out, std::size_t max) override {
    while (out.size() < max) {
      if (!lines_.next(line_)) {
        co_return false;
      }
      if (line_.text.find_first_not_of(" \t\r") == std::string::npos && !line_.too_long) {
        continue;
      }
      spec_builder b(fmt::format("{}:{}", path_.filename().string(), line_.number), dir_,
                     base_ ? &*base_ : nullptr);
      if (line_.too_long) {
        b.fail(fetch_errc::bad_record, fmt::format("record longer than max_record ({})", max_));
      } else {
        read_json_record(line_.text, b);
      }
      out.push_back(b.finish(index_++, line_.end_offset));
    }
    co_return true;
  }

  bool resumable() const override { return true; }
  void skip_to(std::uint64_t count, std::uint64_t offset) override {
    lines_.seek(offset);
    index_ = count;
  }

 private:
  std::filesystem::path path_;
  std::filesystem::path dir_;
  std::optional<boost::urls::url> base_;
  std::ifstream file_;
  std::uint64_t max_;
  line_reader lines_;
  line line_;
  std::uint64_t index_ = 0;
};

/// What a CSV column of the header row means.
struct csv_role {
  enum class kind { url, method, body, body_file, header, meta } what;
  std::string key;  ///< header.<key>, meta.<key>
};

/// The columns named by a header row; throws config_error for an unknown or
/// duplicate column, or no `url`.
std::vector<csv_role> csv_roles(const std::vector<std::string>& names) {
  std::vector<csv_role> roles;
  bool url = false;
  for (const auto& n : names) {
    using K = csv_role::kind;
    if (std::count(names.begin(), names.end(), n) > 1) {
      throw config_error("path", fmt::format("the header row names column '{}' twice", n));
    }
    if (n == "url") {
      roles.push_back({K::url, ""});
      url = true;
    } else if (n == "method") {
      roles.push_back({K::method, ""});
    } else if (n == "body") {
      roles.push_back({K::body, ""});
    } else if (n == "body_file") {
      roles.push_back({K::body_file, ""});
    } else if (n.starts_with("header.") && n.size() > 7) {
      roles.push_back({K::header, n.substr(7)});
    } else if (n.starts_with("meta.") && n.size() > 5) {
      roles.push_back({K::meta, n.substr(5)});
    } else {
      throw config_error("path", fmt::format("unknown column '{}' in the header row (url, method, "
                                             "body, body_file, header.NAME, meta.KEY)",
                                             n));
    }
  }
  if (!url) {
    throw config_error("path", "the header row has no 'url' column");
  }
  return roles;
}

/// One CSV row into `b`; empty cells are absent (the consumer's value).
void read_csv_record(const std::vector<csv_role>& roles, std::vector<std::string>& cells,
                     spec_builder& b) {
  if (cells.size() != roles.size()) {
    b.fail(fetch_errc::bad_record,
           fmt::format("{} fields, the header row has {}", cells.size(), roles.size()));
    return;
  }
  json::object meta;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    auto& c = cells[i];
    using K = csv_role::kind;
    if (c.empty() && roles[i].what != K::url) {
      continue;
    }
    switch (roles[i].what) {
      case K::url:
        b.url(std::move(c));
        break;
      case K::method:
        b.method(std::move(c));
        break;
      case K::body:
        b.body(std::move(c));
        break;
      case K::body_file:
        b.body_file(c);
        break;
      case K::header:
        b.header(roles[i].key, std::move(c));
        break;
      case K::meta:
        meta[roles[i].key] = c;
        break;
    }
  }
  if (!meta.empty()) {
    b.meta(json::serialize(meta));
  }
}

/// libcsv (RFC 4180, streaming) fed one physical line at a time: a record
/// that completes does so at the end of the line fed, so its resume offset
/// is that line's end. Bounded: a record over max_record bytes (a stray
/// quote swallowing the file) fails and parsing restarts at the next line.
/// Thread safety: one caller.
class csv_reader {
 public:
  struct record {
    std::vector<std::string> cells;
    std::uint64_t first_line = 0;
    std::uint64_t end_offset = 0;
    bool too_long = false;
    std::string problem;  ///< not a valid row: why (a stray or unclosed quote)
  };

  csv_reader(std::istream& in, std::uint64_t max) : lines_(in, max), max_(max) { init(); }
  ~csv_reader() { csv_free(&p_); }
  csv_reader(const csv_reader&) = delete;
  csv_reader& operator=(const csv_reader&) = delete;

  /// The next record; false at the end of the input.
  bool next(record& out) {
    while (ready_.empty()) {
      if (!feed_line()) {
        return false;
      }
    }
    out = std::move(ready_.front());
    ready_.pop_front();
    return true;
  }

  void seek(std::uint64_t offset) {
    lines_.seek(offset);
    restart();
  }

 private:
  void init() {
    if (csv_init(&p_, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
      throw std::bad_alloc();
    }
  }
  void restart() {
    csv_free(&p_);
    init();
    cur_ = record{};
    bytes_ = 0;
  }

  bool feed_line() {
    if (!lines_.next(line_)) {
      if (bytes_ > 0) {
        if (csv_fini(&p_, on_field, on_record, this) != 0) {
          cur_.problem = "the file ends inside a quoted field";
          ready_.push_back(std::move(cur_));
        }
        restart();
        return !ready_.empty();
      }
      return false;
    }
    if (cur_.first_line == 0) {
      cur_.first_line = line_.number;
    }
    bytes_ += line_.text.size() + 1;
    if (line_.too_long || bytes_ > max_) {
      cur_.too_long = true;
      cur_.cells.clear();
      cur_.end_offset = line_.end_offset;
      ready_.push_back(std::move(cur_));
      restart();
      return true;
    }
    if (line_.terminated) {
      line_.text.push_back('\n');
    }
    if (csv_parse(&p_, line_.text.data(), line_.text.size(), on_field, on_record, this) !=
        line_.text.size()) {
      // RFC 4180 broken (a quote inside an unquoted field, text after a
      // closing quote): this row fails; the next line starts afresh.
      cur_.problem = fmt::format("not a CSV row: {}", csv_strerror(csv_error(&p_)));
      cur_.end_offset = line_.end_offset;
      ready_.push_back(std::move(cur_));
      restart();
    }
    return true;
  }

  static void on_field(void* data, std::size_t len, void* self) {
    auto& r = *static_cast<csv_reader*>(self);
    if (r.cur_.first_line == 0) {
      r.cur_.first_line = r.line_.number;  // a bare CR ended a record mid-line
    }
    r.cur_.cells.emplace_back(static_cast<const char*>(data), len);
  }
  static void on_record(int, void* self) {
    auto& r = *static_cast<csv_reader*>(self);
    r.cur_.end_offset = r.line_.end_offset;
    r.ready_.push_back(std::move(r.cur_));
    r.cur_ = record{};
    r.bytes_ = 0;
  }

  line_reader lines_;
  std::uint64_t max_;
  csv_parser p_{};
  line line_;
  record cur_;
  std::uint64_t bytes_ = 0;
  std::deque<record> ready_;
};

/// The header row of a CSV request file (for the producer and `check`).
std::vector<csv_role> read_csv_header(csv_reader& reader, std::uint64_t& after) {
  csv_reader::record header;
  if (!reader.next(header) || header.too_long || !header.problem.empty()) {
    throw config_error("path", "the request file has no header row");
  }
  after = header.end_offset;
  return csv_roles(header.cells);
}

/// The `csv` producer.
class csv_producer final : public producer {
 public:
  explicit csv_producer(const stage_context& ctx)
      : path_(ctx.resolve(ctx.opts.get_string("path"))),
        dir_(path_.parent_path()),
        base_(base_url_of(ctx.opts)),
        file_(open_input(ctx)),
        max_(ctx.opts.get_size("max_record")),
        reader_(file_, max_),
        roles_(read_csv_header(reader_, header_end_)) {}

  boost::asio::awaitable<bool> next(std::vector<item>& out, std::size_t max) override {
    while (out.size() < max) {
      if (!reader_.next(rec_)) {
        co_return false;
      }
      if (rec_.cells.size() == 1 && rec_.cells[0].empty() && !rec_.too_long &&
          rec_.problem.empty()) {
        continue;  // a blank line
      }
      spec_builder b(fmt::format("{}:{}", path_.filename().string(), rec_.first_line), dir_,
                     base_ ? &*base_ : nullptr);
      if (rec_.too_long) {
        b.fail(fetch_errc::bad_record, fmt::format("record longer than max_record ({})", max_));
      } else if (!rec_.problem.empty()) {
        b.fail(fetch_errc::bad_record, rec_.problem);
      } else {
        read_csv_record(roles_, rec_.cells, b);
      }
      out.push_back(b.finish(index_++, rec_.end_offset));
    }
    co_return true;
  }

  bool resumable() const override { return true; }
  void skip_to(std::uint64_t count, std::uint64_t offset) override {
    reader_.seek(count == 0 ? header_end_ : offset);
    index_ = count;
  }

 private:
  std::filesystem::path path_;
  std::filesystem::path dir_;
  std::optional<boost::urls::url> base_;
  std::ifstream file_;
  std::uint64_t max_;
  csv_reader reader_;
  std::uint64_t header_end_ = 0;
  std::vector<csv_role> roles_;
  csv_reader::record rec_;
  std::uint64_t index_ = 0;
};

option_schema request_file_schema() {
  return {{.name = "path",
           .required = true,
           .doc = "the request file, relative to the pipeline file; a relative body_file in it "
                  "is relative to this file's directory"},
          make_option("base_url", option_type::string, "",
                      "an absolute URL that relative record URLs (`/a?b`) are resolved against, "
                      "such as ${origin}; empty: every url must be absolute"),
          make_option("max_record", option_type::size, std::to_string(k_default_max_record),
                      "longest record (line, or CSV row); a longer one fails as bad_record")};
}

void check_request_file(const stage_context& ctx) {
  const auto path = ctx.resolve(ctx.opts.get_string("path"));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw config_error("path", "no such request file '" + path.string() + "'");
  }
}

}  // namespace

void register_request_producers(registry& reg) {
  stage_info jsonl{.kind = stage_kind::producer,
                   .name = "jsonl",
                   .summary =
                       "requests read from a JSON-lines file, one object per line: {url, "
                       "method, headers, body, body_file, meta} (streamed, resumable)",
                   .schema = request_file_schema()};
  jsonl.make_producer = [](const stage_context& ctx) {
    return std::make_unique<jsonl_producer>(ctx);
  };
  jsonl.validate = [](const options& o) { (void)base_url_of(o); };
  jsonl.check_files = check_request_file;
  reg.add(std::move(jsonl));

  stage_info csv{.kind = stage_kind::producer,
                 .name = "csv",
                 .summary =
                     "requests read from a CSV file (RFC 4180) whose header row names the "
                     "columns: url, method, body, body_file, header.NAME, meta.KEY",
                 .schema = request_file_schema()};
  csv.validate = [](const options& o) { (void)base_url_of(o); };
  csv.make_producer = [](const stage_context& ctx) { return std::make_unique<csv_producer>(ctx); };
  // `check` reads the header row, so a misnamed column is found before a run.
  csv.check_files = [](const stage_context& ctx) {
    check_request_file(ctx);
    auto in = open_input(ctx);
    csv_reader reader(in, ctx.opts.get_size("max_record"));
    std::uint64_t after = 0;
    (void)read_csv_header(reader, after);
  };
  reg.add(std::move(csv));
}

}  // namespace sluice::stages::core
