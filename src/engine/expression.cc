#include "engine/expression.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

namespace opendms::engine {
namespace expr_internal {

// A SQLite value. TEXT owns its bytes: results of functions are new strings anyway, and add-column
// expressions are short.
struct Value {
  enum class Kind { kNull, kInt, kReal, kText };
  Kind kind = Kind::kNull;
  int64_t i = 0;
  double r = 0;
  std::string text;

  static Value Null() { return {}; }
  static Value Int(int64_t v) {
    Value out;
    out.kind = Kind::kInt;
    out.i = v;
    return out;
  }
  static Value Real(double v) {
    Value out;
    out.kind = Kind::kReal;
    out.r = v;
    return out;
  }
  static Value Text(std::string v) {
    Value out;
    out.kind = Kind::kText;
    out.text = std::move(v);
    return out;
  }
  bool is_null() const { return kind == Kind::kNull; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kReal; }
};

// How a column reference's value takes part in comparisons (SQLite column affinity).
enum class Affinity { kNone, kNumeric, kText };

enum class Op {
  kOr,
  kAnd,
  kNot,
  kEq,
  kNe,
  kIs,
  kIsNot,
  kLt,
  kLe,
  kGt,
  kGe,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kConcat,
  kNeg,
  kPlus,
  kIsNull,
  kNotNull,
};

enum class Func {
  kUpper,
  kLower,
  kTrim,
  kLtrim,
  kRtrim,
  kSubstr,
  kReplace,
  kLength,
  kCoalesce,
  kIfnull,
  kNullif,
  kRound,
  kAbs,
  kMin,
  kMax,
};

struct Node {
  enum class Kind { kLiteral, kColumn, kSourceSchema, kSourceTable, kUnary, kBinary, kCase, kFunc };
  Kind kind = Kind::kLiteral;
  Value literal;
  int column = -1;
  Affinity affinity = Affinity::kNone;
  Op op = Op::kAdd;
  Func func = Func::kUpper;
  // kUnary: children[0]; kBinary: children[0], children[1]; kFunc: the arguments;
  // kCase: [base?] then WHEN/THEN pairs then [ELSE?] — see has_base / has_else.
  std::vector<std::unique_ptr<Node>> children;
  bool has_base = false, has_else = false;
};

}  // namespace expr_internal

using expr_internal::Affinity;
using expr_internal::Func;
using expr_internal::Node;
using expr_internal::Op;
using expr_internal::Value;

namespace {

// ---------------------------------------------------------------------------------------------
// Conversions (SQLite rules)
// ---------------------------------------------------------------------------------------------

// Parses the whole of `s` (surrounding spaces allowed) as an integer or a real. Returns false
// when `s` is not entirely a number.
bool ParseWholeNumber(std::string_view s, Value& out) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.empty()) return false;
  std::string buf(s);
  bool looks_real = buf.find_first_of(".eE") != std::string::npos;
  errno = 0;
  char* end = nullptr;
  if (!looks_real) {
    long long v = std::strtoll(buf.c_str(), &end, 10);
    if (end == buf.c_str() + buf.size() && errno == 0) {
      out = Value::Int(v);
      return true;
    }
  }
  errno = 0;
  double d = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || buf.find_first_of("xXnN") != std::string::npos) {
    return false;  // no hex, inf or nan: SQLite doesn't read those as numbers
  }
  out = Value::Real(d);
  return true;
}

// SQLite's numeric conversion of TEXT in arithmetic: the longest numeric prefix, else 0.
Value NumericPrefix(std::string_view s) {
  size_t p = 0;
  while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
  size_t start = p;
  if (p < s.size() && (s[p] == '+' || s[p] == '-')) ++p;
  size_t digits_start = p;
  while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
  bool any_digit = p > digits_start;
  bool real = false;
  if (p < s.size() && s[p] == '.') {
    size_t q = p + 1;
    while (q < s.size() && std::isdigit(static_cast<unsigned char>(s[q]))) ++q;
    if (q > p + 1 || any_digit) {
      any_digit = any_digit || q > p + 1;
      real = true;
      p = q;
    }
  }
  if (!any_digit) return Value::Int(0);
  if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
    size_t q = p + 1;
    if (q < s.size() && (s[q] == '+' || s[q] == '-')) ++q;
    size_t exp_digits = q;
    while (q < s.size() && std::isdigit(static_cast<unsigned char>(s[q]))) ++q;
    if (q > exp_digits) {
      real = true;
      p = q;
    }
  }
  Value v;
  if (!ParseWholeNumber(s.substr(start, p - start), v)) return Value::Int(0);
  if (real && v.kind == Value::Kind::kInt) return Value::Real(static_cast<double>(v.i));
  return v;
}

Value ToNumber(const Value& v) {
  if (v.kind == Value::Kind::kText) return NumericPrefix(v.text);
  return v;
}

double AsDouble(const Value& v) {
  return v.kind == Value::Kind::kInt ? static_cast<double>(v.i) : v.r;
}

// SQLite prints REALs with 15 significant digits and always shows them as reals ("20.0").
std::string FormatReal(double d) {
  if (std::isnan(d)) return "";  // SQLite turns NaN into NULL; callers check first
  if (std::isinf(d)) return d > 0 ? "Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  std::string s(buf);
  size_t e = s.find('e');
  if (s.find('.') == std::string::npos) {
    if (e == std::string::npos) {
      s += ".0";
    } else {
      s.insert(e, ".0");
    }
  }
  return s;
}

std::string ToText(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      return "";
    case Value::Kind::kInt:
      return std::to_string(v.i);
    case Value::Kind::kReal:
      return FormatReal(v.r);
    case Value::Kind::kText:
      return v.text;
  }
  return "";
}

bool Truthy(const Value& v) {
  if (v.is_null()) return false;
  Value n = ToNumber(v);
  return n.kind == Value::Kind::kInt ? n.i != 0 : n.r != 0.0;
}

// SQLite ordering of non-NULL values: numbers before text; numbers by value; text by bytes.
int CompareValues(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind == Value::Kind::kInt && b.kind == Value::Kind::kInt) {
      return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    }
    double x = AsDouble(a), y = AsDouble(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_number()) return -1;
  if (b.is_number()) return 1;
  int c = a.text.compare(b.text);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

// Applies SQLite's comparison affinity rules for a column operand against another operand.
void ApplyComparisonAffinity(Affinity left_aff, Affinity right_aff, Value& l, Value& r) {
  auto numeric = [](Value& v) {
    Value n;
    if (v.kind == Value::Kind::kText && ParseWholeNumber(v.text, n)) v = std::move(n);
  };
  auto text = [](Value& v) {
    if (v.is_number()) v = Value::Text(ToText(v));
  };
  if (left_aff == Affinity::kNumeric || right_aff == Affinity::kNumeric) {
    numeric(l);
    numeric(r);
  } else if (left_aff == Affinity::kText && right_aff == Affinity::kNone) {
    text(r);
  } else if (right_aff == Affinity::kText && left_aff == Affinity::kNone) {
    text(l);
  }
}

// UTF-8: byte offset of the n-th character (n may exceed the length: returns size).
size_t Utf8Offset(std::string_view s, int64_t n) {
  size_t pos = 0;
  while (n > 0 && pos < s.size()) {
    ++pos;
    while (pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) ++pos;
    --n;
  }
  return pos;
}

int64_t Utf8Length(std::string_view s) {
  int64_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Lexer and parser
// ---------------------------------------------------------------------------------------------

struct Token {
  enum class Kind { kEnd, kString, kNumber, kVariable, kIdent, kPunct };
  Kind kind = Kind::kEnd;
  std::string text;  // string literal unescaped; identifier/punct as written
  size_t pos = 0;    // 0-based byte offset
};

class Parser {
 public:
  Parser(std::string_view text, const TableDefinition& table) : text_(text), table_(table) {}

  Result<std::unique_ptr<Node>> ParseAll(std::vector<int>& referenced) {
    RETURN_IF_ERROR(Tokenize());
    ASSIGN_OR_RETURN(auto root, ParseOr());
    if (Peek().kind != Token::Kind::kEnd)
      return Error(Peek().pos, "unexpected \"" + Peek().text + "\"");
    std::sort(referenced_.begin(), referenced_.end());
    referenced_.erase(std::unique(referenced_.begin(), referenced_.end()), referenced_.end());
    referenced = referenced_;
    return root;
  }

 private:
  Status Error(size_t pos, std::string msg) const {
    return Status::InvalidArgument("expression \"" + std::string(text_) + "\" at position " +
                                   std::to_string(pos + 1) + ": " + msg);
  }

  Status Tokenize() {
    size_t p = 0;
    while (true) {
      while (p < text_.size() && std::isspace(static_cast<unsigned char>(text_[p]))) ++p;
      Token t;
      t.pos = p;
      if (p >= text_.size()) {
        tokens_.push_back(t);
        return Status::Ok();
      }
      char c = text_[p];
      if (c == '\'') {
        t.kind = Token::Kind::kString;
        ++p;
        while (true) {
          if (p >= text_.size()) return Error(t.pos, "unterminated string literal");
          if (text_[p] == '\'') {
            if (p + 1 < text_.size() && text_[p + 1] == '\'') {
              t.text += '\'';
              p += 2;
              continue;
            }
            ++p;
            break;
          }
          t.text += text_[p++];
        }
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '.' && p + 1 < text_.size() &&
                  std::isdigit(static_cast<unsigned char>(text_[p + 1])))) {
        t.kind = Token::Kind::kNumber;
        size_t start = p;
        while (p < text_.size() && std::isdigit(static_cast<unsigned char>(text_[p]))) ++p;
        if (p < text_.size() && text_[p] == '.') {
          ++p;
          while (p < text_.size() && std::isdigit(static_cast<unsigned char>(text_[p]))) ++p;
        }
        if (p < text_.size() && (text_[p] == 'e' || text_[p] == 'E')) {
          size_t q = p + 1;
          if (q < text_.size() && (text_[q] == '+' || text_[q] == '-')) ++q;
          if (q >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[q]))) {
            return Error(t.pos, "malformed number");
          }
          while (q < text_.size() && std::isdigit(static_cast<unsigned char>(text_[q]))) ++q;
          p = q;
        }
        t.text = std::string(text_.substr(start, p - start));
      } else if (c == '$' || std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        t.kind = c == '$' ? Token::Kind::kVariable : Token::Kind::kIdent;
        size_t start = c == '$' ? p + 1 : p;
        p = start;
        while (p < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[p])) || text_[p] == '_')) {
          ++p;
        }
        t.text = std::string(text_.substr(start, p - start));
        if (t.text.empty()) return Error(t.pos, "\"$\" must be followed by a column name");
      } else {
        t.kind = Token::Kind::kPunct;
        static constexpr std::string_view kTwo[] = {"||", "<=", ">=", "==", "!=", "<>"};
        std::string_view two = text_.substr(p, 2);
        bool matched = false;
        for (std::string_view op : kTwo) {
          if (two == op) {
            t.text = std::string(op);
            p += 2;
            matched = true;
            break;
          }
        }
        if (!matched) {
          if (std::string_view("+-*/%<>=(),").find(c) == std::string_view::npos) {
            return Error(p, std::string("unexpected character '") + c + "'");
          }
          t.text = std::string(1, c);
          ++p;
        }
      }
      tokens_.push_back(std::move(t));
    }
  }

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(next_ + ahead, tokens_.size() - 1)];
  }
  Token Take() {
    Token t = Peek();
    if (next_ < tokens_.size() - 1) ++next_;
    return t;
  }
  bool IsKeyword(const Token& t, std::string_view word) const {
    if (t.kind != Token::Kind::kIdent || t.text.size() != word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(t.text[i])) != word[i]) return false;
    }
    return true;
  }
  bool AcceptKeyword(std::string_view word) {
    if (!IsKeyword(Peek(), word)) return false;
    Take();
    return true;
  }
  bool AcceptPunct(std::string_view p) {
    if (Peek().kind != Token::Kind::kPunct || Peek().text != p) return false;
    Take();
    return true;
  }
  Status ExpectPunct(std::string_view p) {
    if (!AcceptPunct(p)) {
      return Error(Peek().pos, "expected \"" + std::string(p) + "\"" + Near());
    }
    return Status::Ok();
  }
  std::string Near() const {
    return Peek().kind == Token::Kind::kEnd ? " at end of expression"
                                            : " before \"" + Peek().text + "\"";
  }

  static std::unique_ptr<Node> MakeBinary(Op op, std::unique_ptr<Node> l, std::unique_ptr<Node> r) {
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::kBinary;
    n->op = op;
    n->children.push_back(std::move(l));
    n->children.push_back(std::move(r));
    return n;
  }
  static std::unique_ptr<Node> MakeUnary(Op op, std::unique_ptr<Node> c) {
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::kUnary;
    n->op = op;
    n->children.push_back(std::move(c));
    return n;
  }

  Result<std::unique_ptr<Node>> ParseOr() {
    ASSIGN_OR_RETURN(auto left, ParseAnd());
    while (AcceptKeyword("OR")) {
      ASSIGN_OR_RETURN(auto right, ParseAnd());
      left = MakeBinary(Op::kOr, std::move(left), std::move(right));
    }
    return left;
  }
  Result<std::unique_ptr<Node>> ParseAnd() {
    ASSIGN_OR_RETURN(auto left, ParseNot());
    while (AcceptKeyword("AND")) {
      ASSIGN_OR_RETURN(auto right, ParseNot());
      left = MakeBinary(Op::kAnd, std::move(left), std::move(right));
    }
    return left;
  }
  Result<std::unique_ptr<Node>> ParseNot() {
    if (AcceptKeyword("NOT")) {
      ASSIGN_OR_RETURN(auto operand, ParseNot());
      return MakeUnary(Op::kNot, std::move(operand));
    }
    return ParseEquality();
  }
  Result<std::unique_ptr<Node>> ParseEquality() {
    ASSIGN_OR_RETURN(auto left, ParseRelational());
    while (true) {
      Op op;
      if (AcceptPunct("=") || AcceptPunct("==")) {
        op = Op::kEq;
      } else if (AcceptPunct("!=") || AcceptPunct("<>")) {
        op = Op::kNe;
      } else if (AcceptKeyword("IS")) {
        bool negate = AcceptKeyword("NOT");
        if (AcceptKeyword("NULL")) {
          left = MakeUnary(negate ? Op::kNotNull : Op::kIsNull, std::move(left));
          continue;
        }
        op = negate ? Op::kIsNot : Op::kIs;
      } else {
        return left;
      }
      ASSIGN_OR_RETURN(auto right, ParseRelational());
      left = MakeBinary(op, std::move(left), std::move(right));
    }
  }
  Result<std::unique_ptr<Node>> ParseRelational() {
    ASSIGN_OR_RETURN(auto left, ParseAdditive());
    while (true) {
      Op op;
      if (AcceptPunct("<")) {
        op = Op::kLt;
      } else if (AcceptPunct("<=")) {
        op = Op::kLe;
      } else if (AcceptPunct(">")) {
        op = Op::kGt;
      } else if (AcceptPunct(">=")) {
        op = Op::kGe;
      } else {
        return left;
      }
      ASSIGN_OR_RETURN(auto right, ParseAdditive());
      left = MakeBinary(op, std::move(left), std::move(right));
    }
  }
  Result<std::unique_ptr<Node>> ParseAdditive() {
    ASSIGN_OR_RETURN(auto left, ParseMultiplicative());
    while (true) {
      Op op;
      if (AcceptPunct("+")) {
        op = Op::kAdd;
      } else if (AcceptPunct("-")) {
        op = Op::kSub;
      } else {
        return left;
      }
      ASSIGN_OR_RETURN(auto right, ParseMultiplicative());
      left = MakeBinary(op, std::move(left), std::move(right));
    }
  }
  Result<std::unique_ptr<Node>> ParseMultiplicative() {
    ASSIGN_OR_RETURN(auto left, ParseConcat());
    while (true) {
      Op op;
      if (AcceptPunct("*")) {
        op = Op::kMul;
      } else if (AcceptPunct("/")) {
        op = Op::kDiv;
      } else if (AcceptPunct("%")) {
        op = Op::kMod;
      } else {
        return left;
      }
      ASSIGN_OR_RETURN(auto right, ParseConcat());
      left = MakeBinary(op, std::move(left), std::move(right));
    }
  }
  Result<std::unique_ptr<Node>> ParseConcat() {
    ASSIGN_OR_RETURN(auto left, ParseUnary());
    while (AcceptPunct("||")) {
      ASSIGN_OR_RETURN(auto right, ParseUnary());
      left = MakeBinary(Op::kConcat, std::move(left), std::move(right));
    }
    return left;
  }
  Result<std::unique_ptr<Node>> ParseUnary() {
    if (AcceptPunct("-")) {
      ASSIGN_OR_RETURN(auto operand, ParseUnary());
      return MakeUnary(Op::kNeg, std::move(operand));
    }
    if (AcceptPunct("+")) {
      ASSIGN_OR_RETURN(auto operand, ParseUnary());
      return MakeUnary(Op::kPlus, std::move(operand));
    }
    return ParsePrimary();
  }

  Result<std::unique_ptr<Node>> ParsePrimary() {
    const Token& t = Peek();
    auto node = std::make_unique<Node>();
    switch (t.kind) {
      case Token::Kind::kEnd:
        return Error(t.pos, "expected a value at end of expression");
      case Token::Kind::kString:
        node->literal = Value::Text(Take().text);
        return node;
      case Token::Kind::kNumber: {
        Token n = Take();
        if (!ParseWholeNumber(n.text, node->literal)) {
          return Error(n.pos, "malformed number \"" + n.text + "\"");
        }
        return node;
      }
      case Token::Kind::kVariable:
        return ParseVariable(Take());
      case Token::Kind::kPunct:
        if (AcceptPunct("(")) {
          ASSIGN_OR_RETURN(auto inner, ParseOr());
          RETURN_IF_ERROR(ExpectPunct(")"));
          return inner;
        }
        return Error(t.pos, "unexpected \"" + t.text + "\"");
      case Token::Kind::kIdent:
        break;
    }
    if (AcceptKeyword("NULL")) return node;
    if (AcceptKeyword("TRUE")) {
      node->literal = Value::Int(1);
      return node;
    }
    if (AcceptKeyword("FALSE")) {
      node->literal = Value::Int(0);
      return node;
    }
    if (AcceptKeyword("CASE")) return ParseCase();
    Token name = Take();
    if (!AcceptPunct("(")) {
      return Error(name.pos, "unknown word \"" + name.text +
                                 "\" (columns are written $name, strings 'text')");
    }
    return ParseFunction(name);
  }

  Result<std::unique_ptr<Node>> ParseVariable(const Token& t) {
    auto node = std::make_unique<Node>();
    if (t.text == "AR_M_SOURCE_SCHEMA") {
      node->kind = Node::Kind::kSourceSchema;
      return node;
    }
    if (t.text == "AR_M_SOURCE_TABLE_NAME") {
      node->kind = Node::Kind::kSourceTable;
      return node;
    }
    for (size_t i = 0; i < table_.columns.size(); ++i) {
      if (table_.columns[i].name == t.text) {
        node->kind = Node::Kind::kColumn;
        node->column = static_cast<int>(i);
        node->affinity =
            IsNumberType(table_.columns[i].type) ? Affinity::kNumeric : Affinity::kText;
        referenced_.push_back(static_cast<int>(i));
        return node;
      }
    }
    if (t.text.rfind("AR_", 0) == 0) {
      return Error(t.pos, "variable $" + t.text +
                              " is not supported (only $AR_M_SOURCE_SCHEMA and "
                              "$AR_M_SOURCE_TABLE_NAME)");
    }
    return Error(t.pos, "unknown column $" + t.text + " in " + table_.owner + "." + table_.name);
  }

  Result<std::unique_ptr<Node>> ParseCase() {
    auto node = std::make_unique<Node>();
    node->kind = Node::Kind::kCase;
    if (!IsKeyword(Peek(), "WHEN")) {
      ASSIGN_OR_RETURN(auto base, ParseOr());
      node->children.push_back(std::move(base));
      node->has_base = true;
    }
    bool any_when = false;
    while (AcceptKeyword("WHEN")) {
      any_when = true;
      ASSIGN_OR_RETURN(auto when, ParseOr());
      if (!AcceptKeyword("THEN")) return Error(Peek().pos, "expected THEN" + Near());
      ASSIGN_OR_RETURN(auto then, ParseOr());
      node->children.push_back(std::move(when));
      node->children.push_back(std::move(then));
    }
    if (!any_when) return Error(Peek().pos, "expected WHEN" + Near());
    if (AcceptKeyword("ELSE")) {
      ASSIGN_OR_RETURN(auto otherwise, ParseOr());
      node->children.push_back(std::move(otherwise));
      node->has_else = true;
    }
    if (!AcceptKeyword("END")) return Error(Peek().pos, "expected END" + Near());
    return node;
  }

  Result<std::unique_ptr<Node>> ParseFunction(const Token& name) {
    struct Spec {
      std::string_view name;
      Func func;
      int min_args, max_args;  // max -1 = any
    };
    static constexpr Spec kFunctions[] = {
        {"UPPER", Func::kUpper, 1, 1},      {"LOWER", Func::kLower, 1, 1},
        {"TRIM", Func::kTrim, 1, 2},        {"LTRIM", Func::kLtrim, 1, 2},
        {"RTRIM", Func::kRtrim, 1, 2},      {"SUBSTR", Func::kSubstr, 2, 3},
        {"SUBSTRING", Func::kSubstr, 2, 3}, {"REPLACE", Func::kReplace, 3, 3},
        {"LENGTH", Func::kLength, 1, 1},    {"COALESCE", Func::kCoalesce, 2, -1},
        {"IFNULL", Func::kIfnull, 2, 2},    {"NULLIF", Func::kNullif, 2, 2},
        {"ROUND", Func::kRound, 1, 2},      {"ABS", Func::kAbs, 1, 1},
        {"MIN", Func::kMin, 2, -1},         {"MAX", Func::kMax, 2, -1},
    };
    const Spec* spec = nullptr;
    for (const Spec& s : kFunctions) {
      if (IsKeyword(name, s.name)) spec = &s;
    }
    if (spec == nullptr) {
      return Error(name.pos,
                   "unknown or unsupported function " + name.text +
                       "() (supported: upper, lower, trim, ltrim, rtrim, substr, "
                       "replace, length, coalesce, ifnull, nullif, round, abs, min, max)");
    }
    auto node = std::make_unique<Node>();
    node->kind = Node::Kind::kFunc;
    node->func = spec->func;
    if (!AcceptPunct(")")) {
      while (true) {
        ASSIGN_OR_RETURN(auto arg, ParseOr());
        node->children.push_back(std::move(arg));
        if (AcceptPunct(")")) break;
        if (!AcceptPunct(",")) return Error(Peek().pos, "expected \",\" or \")\"" + Near());
      }
    }
    int n = static_cast<int>(node->children.size());
    if (n < spec->min_args || (spec->max_args >= 0 && n > spec->max_args)) {
      std::string expected = spec->min_args == spec->max_args ? std::to_string(spec->min_args)
                             : spec->max_args < 0 ? "at least " + std::to_string(spec->min_args)
                                                  : std::to_string(spec->min_args) + " or " +
                                                        std::to_string(spec->max_args);
      return Error(name.pos, "wrong number of arguments to " + name.text +
                                 "(): " + std::to_string(n) + " given, " + expected + " expected");
    }
    return node;
  }

  std::string_view text_;
  const TableDefinition& table_;
  std::vector<Token> tokens_;
  size_t next_ = 0;
  std::vector<int> referenced_;
};

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

struct Evaluator {
  const ExpressionContext& ctx;
  const std::vector<DmsType>& field_types;
  Status error;  // set on the first failure; evaluation then returns NULLs

  Value Column(int index) {
    if (static_cast<size_t>(index) >= ctx.fields.size()) {
      if (error.ok()) {
        error =
            Status::DataError("expression reads field " + std::to_string(index + 1) +
                              " but the row has " + std::to_string(ctx.fields.size()) + " fields");
      }
      return Value::Null();
    }
    if (static_cast<size_t>(index) < ctx.nulls.size() && ctx.nulls[index]) return Value::Null();
    std::string_view field = ctx.fields[index];
    DmsType type = field_types[index];
    if (IsNumberType(type)) {
      Value v;
      if (ParseWholeNumber(field, v)) {
        // NUMERIC affinity keeps integral values as INTEGER; REAL columns read as REAL.
        if ((type == DmsType::kReal4 || type == DmsType::kReal8) && v.kind == Value::Kind::kInt) {
          return Value::Real(static_cast<double>(v.i));
        }
        if (type == DmsType::kNumeric && v.kind == Value::Kind::kReal && std::isfinite(v.r) &&
            v.r == std::floor(v.r) && std::fabs(v.r) < 9.2e18) {
          return Value::Int(static_cast<int64_t>(v.r));
        }
        return v;
      }
    }
    return Value::Text(std::string(field));
  }

  Value Arithmetic(Op op, const Value& a, const Value& b) {
    if (a.is_null() || b.is_null()) return Value::Null();
    Value x = ToNumber(a), y = ToNumber(b);
    if (x.kind == Value::Kind::kInt && y.kind == Value::Kind::kInt) {
      int64_t r = 0;
      switch (op) {
        case Op::kAdd:
          if (!__builtin_add_overflow(x.i, y.i, &r)) return Value::Int(r);
          break;
        case Op::kSub:
          if (!__builtin_sub_overflow(x.i, y.i, &r)) return Value::Int(r);
          break;
        case Op::kMul:
          if (!__builtin_mul_overflow(x.i, y.i, &r)) return Value::Int(r);
          break;
        case Op::kDiv:
          if (y.i == 0) return Value::Null();
          if (x.i == std::numeric_limits<int64_t>::min() && y.i == -1) break;
          return Value::Int(x.i / y.i);
        case Op::kMod:
          if (y.i == 0) return Value::Null();
          if (y.i == -1) return Value::Int(0);
          return Value::Int(x.i % y.i);
        default:
          break;
      }
      // Overflow: SQLite falls back to REAL.
    }
    double p = AsDouble(x), q = AsDouble(y);
    double r = 0;
    switch (op) {
      case Op::kAdd:
        r = p + q;
        break;
      case Op::kSub:
        r = p - q;
        break;
      case Op::kMul:
        r = p * q;
        break;
      case Op::kDiv:
        if (q == 0) return Value::Null();
        r = p / q;
        break;
      case Op::kMod: {
        // SQLite's % on reals works on their integer parts.
        int64_t pi = static_cast<int64_t>(p), qi = static_cast<int64_t>(q);
        if (qi == 0) return Value::Null();
        if (qi == -1) return Value::Real(0);
        r = static_cast<double>(pi % qi);
        break;
      }
      default:
        break;
    }
    if (std::isnan(r)) return Value::Null();
    return Value::Real(r);
  }

  Value Compare(const Node& n) {
    Value l = Eval(*n.children[0]);
    Value r = Eval(*n.children[1]);
    if (n.op == Op::kIs || n.op == Op::kIsNot) {
      bool same;
      if (l.is_null() || r.is_null()) {
        same = l.is_null() && r.is_null();
      } else {
        ApplyComparisonAffinity(n.children[0]->affinity, n.children[1]->affinity, l, r);
        same = CompareValues(l, r) == 0;
      }
      return Value::Int((n.op == Op::kIs) == same ? 1 : 0);
    }
    if (l.is_null() || r.is_null()) return Value::Null();
    ApplyComparisonAffinity(n.children[0]->affinity, n.children[1]->affinity, l, r);
    int c = CompareValues(l, r);
    bool result = false;
    switch (n.op) {
      case Op::kEq:
        result = c == 0;
        break;
      case Op::kNe:
        result = c != 0;
        break;
      case Op::kLt:
        result = c < 0;
        break;
      case Op::kLe:
        result = c <= 0;
        break;
      case Op::kGt:
        result = c > 0;
        break;
      case Op::kGe:
        result = c >= 0;
        break;
      default:
        break;
    }
    return Value::Int(result ? 1 : 0);
  }

  Value Eval(const Node& n) {
    switch (n.kind) {
      case Node::Kind::kLiteral:
        return n.literal;
      case Node::Kind::kColumn:
        return Column(n.column);
      case Node::Kind::kSourceSchema:
        return Value::Text(std::string(ctx.source_schema));
      case Node::Kind::kSourceTable:
        return Value::Text(std::string(ctx.source_table));
      case Node::Kind::kUnary:
        return Unary(n);
      case Node::Kind::kBinary:
        return Binary(n);
      case Node::Kind::kCase:
        return Case(n);
      case Node::Kind::kFunc:
        return Function(n);
    }
    return Value::Null();
  }

  Value Unary(const Node& n) {
    Value v = Eval(*n.children[0]);
    switch (n.op) {
      case Op::kIsNull:
        return Value::Int(v.is_null() ? 1 : 0);
      case Op::kNotNull:
        return Value::Int(v.is_null() ? 0 : 1);
      case Op::kNot:
        if (v.is_null()) return Value::Null();
        return Value::Int(Truthy(v) ? 0 : 1);
      case Op::kNeg: {
        if (v.is_null()) return Value::Null();
        Value x = ToNumber(v);
        if (x.kind == Value::Kind::kInt) {
          if (x.i == std::numeric_limits<int64_t>::min()) return Value::Real(-AsDouble(x));
          return Value::Int(-x.i);
        }
        return Value::Real(-x.r);
      }
      case Op::kPlus:
        return v;  // SQLite's unary + is a no-op, even on TEXT
      default:
        return Value::Null();
    }
  }

  Value Binary(const Node& n) {
    switch (n.op) {
      case Op::kAnd: {
        Value l = Eval(*n.children[0]);
        if (!l.is_null() && !Truthy(l)) return Value::Int(0);
        Value r = Eval(*n.children[1]);
        if (!r.is_null() && !Truthy(r)) return Value::Int(0);
        if (l.is_null() || r.is_null()) return Value::Null();
        return Value::Int(1);
      }
      case Op::kOr: {
        Value l = Eval(*n.children[0]);
        if (!l.is_null() && Truthy(l)) return Value::Int(1);
        Value r = Eval(*n.children[1]);
        if (!r.is_null() && Truthy(r)) return Value::Int(1);
        if (l.is_null() || r.is_null()) return Value::Null();
        return Value::Int(0);
      }
      case Op::kConcat: {
        Value l = Eval(*n.children[0]);
        Value r = Eval(*n.children[1]);
        if (l.is_null() || r.is_null()) return Value::Null();
        return Value::Text(ToText(l) + ToText(r));
      }
      case Op::kAdd:
      case Op::kSub:
      case Op::kMul:
      case Op::kDiv:
      case Op::kMod: {
        Value l = Eval(*n.children[0]);
        Value r = Eval(*n.children[1]);
        return Arithmetic(n.op, l, r);
      }
      default:
        return Compare(n);
    }
  }

  Value Case(const Node& n) {
    size_t i = 0;
    Value base;
    if (n.has_base) base = Eval(*n.children[i++]);
    size_t pairs_end = n.children.size() - (n.has_else ? 1 : 0);
    for (; i < pairs_end; i += 2) {
      Value when = Eval(*n.children[i]);
      bool hit;
      if (n.has_base) {
        Value b = base;
        hit = !b.is_null() && !when.is_null() &&
              (ApplyComparisonAffinity(n.children[0]->affinity, n.children[i]->affinity, b, when),
               CompareValues(b, when) == 0);
      } else {
        hit = Truthy(when);
      }
      if (hit) return Eval(*n.children[i + 1]);
    }
    if (n.has_else) return Eval(*n.children.back());
    return Value::Null();
  }

  static std::string TrimChars(std::string s, std::string_view chars, bool left, bool right) {
    if (right) {
      size_t end = s.find_last_not_of(chars);
      s.erase(end == std::string::npos ? 0 : end + 1);
    }
    if (left) {
      size_t start = s.find_first_not_of(chars);
      s.erase(0, start == std::string::npos ? s.size() : start);
    }
    return s;
  }

  Value Function(const Node& n) {
    std::vector<Value> args;
    args.reserve(n.children.size());
    // coalesce/ifnull evaluate lazily in SQLite; nothing here has side effects, so eager is fine.
    for (const auto& c : n.children) args.push_back(Eval(*c));
    auto any_null = [&]() {
      return std::any_of(args.begin(), args.end(), [](const Value& v) { return v.is_null(); });
    };
    switch (n.func) {
      case Func::kUpper:
      case Func::kLower: {
        if (args[0].is_null()) return Value::Null();
        std::string s = ToText(args[0]);
        for (char& c : s) {
          // ASCII only, as SQLite without ICU.
          c = static_cast<char>(n.func == Func::kUpper
                                    ? std::toupper(static_cast<unsigned char>(c))
                                    : std::tolower(static_cast<unsigned char>(c)));
        }
        return Value::Text(std::move(s));
      }
      case Func::kTrim:
      case Func::kLtrim:
      case Func::kRtrim: {
        if (any_null()) return Value::Null();
        std::string chars = args.size() > 1 ? ToText(args[1]) : std::string(" ");
        return Value::Text(
            TrimChars(ToText(args[0]), chars, n.func != Func::kRtrim, n.func != Func::kLtrim));
      }
      case Func::kSubstr: {
        if (any_null()) return Value::Null();
        std::string s = ToText(args[0]);
        int64_t len = Utf8Length(s);
        Value start_v = ToNumber(args[1]);
        int64_t p1 =
            start_v.kind == Value::Kind::kInt ? start_v.i : static_cast<int64_t>(start_v.r);
        int64_t p2 = len + 1;  // "the rest"
        bool neg_p2 = false;
        if (args.size() > 2) {
          Value len_v = ToNumber(args[2]);
          p2 = len_v.kind == Value::Kind::kInt ? len_v.i : static_cast<int64_t>(len_v.r);
          if (p2 < 0) {
            p2 = -p2;
            neg_p2 = true;
          }
        }
        // SQLite's substr() arithmetic (1-based start, negative counts from the end).
        if (p1 < 0) {
          p1 += len;
          if (p1 < 0) {
            p2 += p1;
            if (p2 < 0) p2 = 0;
            p1 = 0;
          }
        } else if (p1 > 0) {
          --p1;
        } else if (p2 > 0) {
          --p2;
        }
        if (neg_p2) {
          p1 -= p2;
          if (p1 < 0) {
            p2 += p1;
            p1 = 0;
          }
        }
        size_t from = Utf8Offset(s, p1);
        size_t to = Utf8Offset(std::string_view(s).substr(from), p2) + from;
        return Value::Text(s.substr(from, to - from));
      }
      case Func::kReplace: {
        if (any_null()) return Value::Null();
        std::string s = ToText(args[0]), from = ToText(args[1]), to = ToText(args[2]);
        if (from.empty()) return Value::Text(std::move(s));
        std::string out;
        size_t pos = 0;
        while (true) {
          size_t hit = s.find(from, pos);
          if (hit == std::string::npos) break;
          out.append(s, pos, hit - pos);
          out += to;
          pos = hit + from.size();
        }
        out.append(s, pos, std::string::npos);
        return Value::Text(std::move(out));
      }
      case Func::kLength:
        if (args[0].is_null()) return Value::Null();
        return Value::Int(Utf8Length(ToText(args[0])));
      case Func::kCoalesce:
      case Func::kIfnull:
        for (Value& v : args) {
          if (!v.is_null()) return std::move(v);
        }
        return Value::Null();
      case Func::kNullif: {
        if (args[0].is_null()) return Value::Null();
        if (args[1].is_null()) return args[0];
        Value a = args[0], b = args[1];
        ApplyComparisonAffinity(n.children[0]->affinity, n.children[1]->affinity, a, b);
        return CompareValues(a, b) == 0 ? Value::Null() : args[0];
      }
      case Func::kRound: {
        if (any_null()) return Value::Null();
        double x = AsDouble(ToNumber(args[0]));
        int64_t digits = 0;
        if (args.size() > 1) {
          Value d = ToNumber(args[1]);
          digits = d.kind == Value::Kind::kInt ? d.i : static_cast<int64_t>(d.r);
          digits = std::clamp<int64_t>(digits, 0, 30);
        }
        // Half away from zero, as SQLite.
        double scale = std::pow(10.0, static_cast<double>(digits));
        double rounded = std::round(x * scale) / scale;
        if (!std::isfinite(rounded)) rounded = x;
        return Value::Real(rounded);
      }
      case Func::kAbs: {
        if (args[0].is_null()) return Value::Null();
        Value x = ToNumber(args[0]);
        if (x.kind == Value::Kind::kInt) {
          if (x.i == std::numeric_limits<int64_t>::min()) {
            if (error.ok()) error = Status::DataError("abs(): integer overflow");
            return Value::Null();
          }
          return Value::Int(x.i < 0 ? -x.i : x.i);
        }
        return Value::Real(std::fabs(x.r));
      }
      case Func::kMin:
      case Func::kMax: {
        if (any_null()) return Value::Null();
        size_t best = 0;
        for (size_t i = 1; i < args.size(); ++i) {
          int c = CompareValues(args[i], args[best]);
          if ((n.func == Func::kMin && c < 0) || (n.func == Func::kMax && c > 0)) best = i;
        }
        return args[best];
      }
    }
    return Value::Null();
  }
};

}  // namespace

Expression::Expression() = default;
Expression::~Expression() = default;

Result<std::shared_ptr<const Expression>> Expression::Parse(std::string_view text,
                                                            const TableDefinition& source_table,
                                                            DmsType result_type) {
  Parser parser(text, source_table);
  std::shared_ptr<Expression> e(new Expression());
  ASSIGN_OR_RETURN(e->root_, parser.ParseAll(e->referenced_fields_));
  e->text_ = std::string(text);
  e->result_type_ = result_type;
  e->field_types_.reserve(source_table.columns.size());
  for (const ColumnDefinition& c : source_table.columns) e->field_types_.push_back(c.type);
  return std::shared_ptr<const Expression>(std::move(e));
}

Result<std::optional<std::string>> Expression::Evaluate(const ExpressionContext& ctx) const {
  Evaluator ev{ctx, field_types_, Status::Ok()};
  Value v = ev.Eval(*root_);
  if (!ev.error.ok()) return ev.error.WithContext("expression \"" + text_ + "\"");
  if (v.is_null()) return std::optional<std::string>();
  if (v.kind == Value::Kind::kReal) {
    if (std::isnan(v.r)) return std::optional<std::string>();
    if (IsIntegerType(result_type_) && std::isfinite(v.r) && v.r == std::floor(v.r) &&
        std::fabs(v.r) < 9.2e18) {
      return std::optional<std::string>(std::to_string(static_cast<int64_t>(v.r)));
    }
  }
  return std::optional<std::string>(ToText(v));
}

}  // namespace opendms::engine
