// `when:` filters: a tiny expression language over a result, compiled once by
// a recursive-descent parser into a tree of nodes evaluated per result.
//
// Grammar (lowest precedence first):
//   expr       := or_expr
//   or_expr    := and_expr (("||" | "or") and_expr)*
//   and_expr   := unary (("&&" | "and") unary)*
//   unary      := ("!" | "not") unary | primary
//   primary    := "(" expr ")" | operand (cmp_op operand)?
//   operand    := field | integer | string | status class (`2xx`) | true | false
//   cmp_op     := "==" | "!=" | "<" | "<=" | ">" | ">="
// Types are checked while parsing, so `url > 3` is an error at load time, not
// a silent false at run time.
#include "sluice/runtime/filter.hpp"

#include "sluice/core/fetch_error.hpp"

#include <cctype>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace {

enum class value_type { boolean, integer, string, status_class };

const char* type_name(value_type t) {
  switch (t) {
    case value_type::boolean:
      return "a boolean";
    case value_type::integer:
      return "a number";
    case value_type::string:
      return "a string";
    case value_type::status_class:
      return "a status class";
  }
  return "?";
}

// A value computed from a result; only the member matching the node's static
// type is meaningful.
struct value {
  bool b = false;
  std::int64_t i = 0;
  std::string_view s;
};

// A field filters can name: its name, its type and how it reads a result.
struct field_def {
  std::string_view name;
  value_type type;
  value (*read)(const result& r);
};

constexpr field_def fields[] = {
    {"ok", value_type::boolean, [](const result& r) { return value{.b = r.ok()}; }},
    {"status", value_type::integer, [](const result& r) { return value{.i = r.status}; }},
    {"error_kind", value_type::string, [](const result& r) { return value{.s = r.error_kind}; }},
    {"error_class", value_type::string,
     [](const result& r) { return value{.s = error_class_of(r.error_kind)}; }},
    {"error_message", value_type::string,
     [](const result& r) { return value{.s = r.error_message}; }},
    {"bytes", value_type::integer,
     [](const result& r) { return value{.i = static_cast<std::int64_t>(r.bytes)}; }},
    {"url", value_type::string, [](const result& r) { return value{.s = r.url}; }},
    {"final_url", value_type::string, [](const result& r) { return value{.s = r.final_url}; }},
    {"attempts", value_type::integer, [](const result& r) { return value{.i = r.attempts}; }},
    {"redirects", value_type::integer, [](const result& r) { return value{.i = r.redirects}; }},
    {"content_type", value_type::string,
     [](const result& r) { return value{.s = r.content_type}; }},
};

struct node {
  virtual ~node() = default;
  virtual value eval(const result& r) const = 0;
  value_type type = value_type::boolean;
};
using node_ptr = std::unique_ptr<node>;

struct field_node : node {
  const field_def* field = nullptr;
  value eval(const result& r) const override { return field->read(r); }
};

struct literal_node : node {
  value v;
  std::string text;  // owns the characters a string literal's view points to
  value eval(const result&) const override { return v; }
};

// Truthiness of a non-boolean operand used where a condition is expected.
struct truthy_node : node {
  node_ptr inner;
  value eval(const result& r) const override {
    value v = inner->eval(r);
    value out;
    switch (inner->type) {
      case value_type::boolean:
        out.b = v.b;
        break;
      case value_type::integer:
        out.b = v.i != 0;
        break;
      case value_type::string:
        out.b = !v.s.empty();
        break;
      case value_type::status_class:
        out.b = true;
        break;
    }
    return out;
  }
};

struct not_node : node {
  node_ptr inner;
  value eval(const result& r) const override {
    value v;
    v.b = !inner->eval(r).b;
    return v;
  }
};

struct logic_node : node {
  bool is_and = true;
  node_ptr lhs, rhs;
  value eval(const result& r) const override {
    value v;
    bool l = lhs->eval(r).b;
    v.b = is_and ? (l && rhs->eval(r).b) : (l || rhs->eval(r).b);
    return v;
  }
};

enum class cmp_op { eq, ne, lt, le, gt, ge };

template <class T>
bool compare(cmp_op op, const T& a, const T& b) {
  switch (op) {
    case cmp_op::eq:
      return a == b;
    case cmp_op::ne:
      return a != b;
    case cmp_op::lt:
      return a < b;
    case cmp_op::le:
      return a <= b;
    case cmp_op::gt:
      return a > b;
    case cmp_op::ge:
      return a >= b;
  }
  return false;
}

struct compare_node : node {
  cmp_op op = cmp_op::eq;
  value_type operand_type = value_type::integer;
  bool class_on_right = true;  // for status classes: which side holds the class
  node_ptr lhs, rhs;
  value eval(const result& r) const override {
    value a = lhs->eval(r);
    value b = rhs->eval(r);
    value v;
    switch (operand_type) {
      case value_type::boolean:
        v.b = compare(op, a.b, b.b);
        break;
      case value_type::integer:
        v.b = compare(op, a.i, b.i);
        break;
      case value_type::string:
        v.b = compare(op, a.s, b.s);
        break;
      case value_type::status_class: {
        // A class literal holds its hundreds digit; the other side a status.
        std::int64_t status = class_on_right ? a.i : b.i;
        std::int64_t cls = class_on_right ? b.i : a.i;
        bool in = status / 100 == cls;
        v.b = op == cmp_op::eq ? in : !in;
        break;
      }
    }
    return v;
  }
};

struct parse_failure {
  std::string message;
  int column;
};

class parser {
 public:
  explicit parser(const std::string& text) : text_(text) {}

  node_ptr parse() {
    node_ptr n = parse_or();
    skip_space();
    if (pos_ < text_.size()) {
      fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    }
    return as_condition(std::move(n));
  }

 private:
  [[noreturn]] void fail(const std::string& message) { fail_at(message, pos_); }
  [[noreturn]] void fail_at(const std::string& message, std::size_t at) {
    throw parse_failure{message, static_cast<int>(at)};
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }

  bool eat(std::string_view token) {
    skip_space();
    if (text_.compare(pos_, token.size(), token) == 0) {
      pos_ += token.size();
      return true;
    }
    return false;
  }

  // A keyword operator (`and`, `or`, `not`) only when it is a whole word.
  bool eat_word(std::string_view word) {
    skip_space();
    if (text_.compare(pos_, word.size(), word) != 0) {
      return false;
    }
    std::size_t end = pos_ + word.size();
    if (end < text_.size() &&
        (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) {
      return false;
    }
    pos_ = end;
    return true;
  }

  node_ptr as_condition(node_ptr n) {
    if (n->type == value_type::boolean) {
      return n;
    }
    if (n->type == value_type::status_class) {
      fail("a status class like 2xx must be compared with status (status == 2xx)");
    }
    auto t = std::make_unique<truthy_node>();
    t->type = value_type::boolean;
    t->inner = std::move(n);
    return t;
  }

  // A left-associative chain of `next` operands joined by `op` or `word`.
  node_ptr parse_chain(bool is_and, std::string_view op, std::string_view word,
                       node_ptr (parser::*next)()) {
    node_ptr lhs = (this->*next)();
    while (eat(op) || eat_word(word)) {
      auto n = std::make_unique<logic_node>();
      n->is_and = is_and;
      n->lhs = as_condition(std::move(lhs));
      n->rhs = as_condition((this->*next)());
      lhs = std::move(n);
    }
    return lhs;
  }

  node_ptr parse_or() { return parse_chain(false, "||", "or", &parser::parse_and); }

  node_ptr parse_and() { return parse_chain(true, "&&", "and", &parser::parse_unary); }

  /// Parentheses and negations nest at most this deep: the parser recurses,
  /// and `((((...` would otherwise overflow the stack (found by the fuzzer).
  static constexpr int k_max_depth = 64;
  struct depth_guard {
    parser& p;
    explicit depth_guard(parser& owner) : p(owner) {
      if (++p.depth_ > k_max_depth) {
        p.fail("nested deeper than " + std::to_string(k_max_depth) + " levels");
      }
    }
    ~depth_guard() { --p.depth_; }
  };

  node_ptr parse_unary() {
    skip_space();
    // `!=` is a comparison, never a negation.
    bool negate = false;
    if (pos_ < text_.size() && text_[pos_] == '!' && text_.compare(pos_, 2, "!=") != 0) {
      ++pos_;
      negate = true;
    } else if (eat_word("not")) {
      negate = true;
    }
    if (negate) {
      depth_guard guard(*this);
      auto n = std::make_unique<not_node>();
      n->inner = as_condition(parse_unary());
      return n;
    }
    return parse_primary();
  }

  node_ptr parse_primary() {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      depth_guard guard(*this);
      ++pos_;
      node_ptr inner = parse_or();
      if (!eat(")")) {
        fail("expected ')'");
      }
      return inner;
    }
    std::size_t lhs_at = pos_;
    node_ptr lhs = parse_operand();
    skip_space();
    std::size_t op_at = pos_;
    std::optional<cmp_op> op;
    if (eat("==")) {
      op = cmp_op::eq;
    } else if (eat("!=")) {
      op = cmp_op::ne;
    } else if (eat("<=")) {
      op = cmp_op::le;
    } else if (eat(">=")) {
      op = cmp_op::ge;
    } else if (eat("<")) {
      op = cmp_op::lt;
    } else if (eat(">")) {
      op = cmp_op::gt;
    } else if (pos_ < text_.size() && text_[pos_] == '=') {
      fail("use '==' to compare");
    }
    if (!op) {
      return lhs;
    }
    skip_space();
    std::size_t rhs_at = pos_;
    node_ptr rhs = parse_operand();
    auto n = std::make_unique<compare_node>();
    n->op = *op;
    value_type a = lhs->type;
    value_type b = rhs->type;
    if (a == value_type::status_class || b == value_type::status_class) {
      if (a == b) {
        fail_at("cannot compare two status classes", rhs_at);
      }
      value_type other = a == value_type::status_class ? b : a;
      if (other != value_type::integer) {
        fail_at(std::string("a status class can only be compared with a number, not ") +
                    type_name(other),
                a == value_type::status_class ? rhs_at : lhs_at);
      }
      if (*op != cmp_op::eq && *op != cmp_op::ne) {
        fail_at("a status class supports only == and !=", op_at);
      }
      n->operand_type = value_type::status_class;
      n->class_on_right = b == value_type::status_class;
    } else {
      if (a != b) {
        fail_at(std::string("cannot compare ") + type_name(a) + " with " + type_name(b), rhs_at);
      }
      if (a == value_type::boolean && *op != cmp_op::eq && *op != cmp_op::ne) {
        fail_at("booleans support only == and !=", op_at);
      }
      n->operand_type = a;
    }
    n->type = value_type::boolean;
    n->lhs = std::move(lhs);
    n->rhs = std::move(rhs);
    return n;
  }

  node_ptr parse_operand() {
    skip_space();
    if (pos_ >= text_.size()) {
      fail(pos_ == 0 ? "empty expression" : "unexpected end of expression");
    }
    char c = text_[pos_];
    if (c == '"' || c == '\'') {
      return parse_string(c);
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      return parse_number();
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t start = pos_;
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
        ++pos_;
      }
      std::string_view word(text_.data() + start, pos_ - start);
      if (word == "true" || word == "false") {
        auto n = std::make_unique<literal_node>();
        n->type = value_type::boolean;
        n->v.b = word == "true";
        return n;
      }
      for (const auto& f : fields) {
        if (f.name == word) {
          auto n = std::make_unique<field_node>();
          n->field = &f;
          n->type = f.type;
          return n;
        }
      }
      std::string known;
      for (const auto& f : fields) {
        known += known.empty() ? "" : ", ";
        known += f.name;
      }
      fail_at("unknown field '" + std::string(word) + "' (fields: " + known + ")", start);
    }
    fail("unexpected '" + std::string(1, c) + "'");
  }

  node_ptr parse_number() {
    std::size_t start = pos_;
    std::int64_t v = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      if (v > (INT64_MAX - 9) / 10) {
        fail_at("number too large", start);
      }
      v = v * 10 + (text_[pos_] - '0');
      ++pos_;
    }
    // `2xx`: one digit followed by "xx" names a status class.
    if (pos_ - start == 1 &&
        (text_.compare(pos_, 2, "xx") == 0 || text_.compare(pos_, 2, "XX") == 0)) {
      pos_ += 2;
      if (pos_ < text_.size() && std::isalnum(static_cast<unsigned char>(text_[pos_]))) {
        fail_at("bad status class", start);
      }
      if (v < 1 || v > 5) {
        fail_at("status classes are 1xx to 5xx", start);
      }
      auto n = std::make_unique<literal_node>();
      n->type = value_type::status_class;
      n->v.i = v;
      return n;
    }
    if (pos_ < text_.size() && (std::isalpha(static_cast<unsigned char>(text_[pos_])) ||
                                text_[pos_] == '_' || text_[pos_] == '.')) {
      fail_at("bad number (use a whole number, or a status class like 2xx)", start);
    }
    auto n = std::make_unique<literal_node>();
    n->type = value_type::integer;
    n->v.i = v;
    return n;
  }

  node_ptr parse_string(char quote) {
    std::size_t start = pos_;
    ++pos_;
    auto n = std::make_unique<literal_node>();
    n->type = value_type::string;
    for (;;) {
      if (pos_ >= text_.size()) {
        fail_at("unterminated string", start);
      }
      char c = text_[pos_++];
      if (c == quote) {
        break;
      }
      if (c == '\\') {
        if (pos_ >= text_.size()) {
          fail_at("unterminated string", start);
        }
        char e = text_[pos_++];
        switch (e) {
          case 'n':
            n->text += '\n';
            break;
          case 't':
            n->text += '\t';
            break;
          case '\\':
          case '"':
          case '\'':
            n->text += e;
            break;
          default:
            fail_at(std::string("unknown escape '\\") + e + "'", pos_ - 2);
        }
        continue;
      }
      n->text += c;
    }
    // The node lives on the heap and its text no longer changes, so the view
    // stays valid for the node's lifetime.
    n->v.s = n->text;
    return n;
  }

  const std::string& text_;
  std::size_t pos_ = 0;
  int depth_ = 0;  ///< parentheses and negations open (depth_guard)
};

class compiled_filter final : public result_filter {
 public:
  explicit compiled_filter(node_ptr root) : root_(std::move(root)) {}
  bool matches(const result& r) const override { return root_->eval(r).b; }

 private:
  node_ptr root_;
};

}  // namespace

std::shared_ptr<const result_filter> result_filter::parse(const std::string& expr,
                                                          std::string& error, int& error_column) {
  error.clear();
  error_column = 0;
  try {
    parser p(expr);
    node_ptr root = p.parse();
    return std::make_shared<compiled_filter>(std::move(root));
  } catch (const parse_failure& f) {
    error = f.message;
    error_column = f.column;
    return nullptr;
  }
}

}  // namespace sluice
