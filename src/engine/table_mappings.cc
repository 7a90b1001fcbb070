#include "engine/table_mappings.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <tuple>
#include <utility>

namespace opendms::engine {

// ---------------------------------------------------------------------------------------------
// NamePattern
// ---------------------------------------------------------------------------------------------

Result<NamePattern> NamePattern::Compile(std::string_view pattern, bool literal) {
  NamePattern p;
  p.text_ = std::string(pattern);
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    Element e;
    if (literal) {
      e.ch = c;
    } else if (c == '%') {
      e.kind = Element::Kind::kAnyRun;
    } else if (c == '_') {
      e.kind = Element::Kind::kAnyOne;
    } else if (c == '[') {
      size_t close = pattern.find(']', i + 2);  // "[]]" would be a set holding ']'
      if (close == std::string_view::npos) {
        return Status::InvalidArgument("pattern \"" + p.text_ + "\": unterminated \"[\"");
      }
      std::string_view body = pattern.substr(i + 1, close - i - 1);
      e.kind = Element::Kind::kSet;
      for (size_t k = 0; k < body.size(); ++k) {
        if (k + 2 < body.size() && body[k + 1] == '-') {
          char lo = body[k], hi = body[k + 2];
          if (lo > hi) {
            return Status::InvalidArgument("pattern \"" + p.text_ + "\": range \"" +
                                           std::string(body.substr(k, 3)) + "\" is reversed");
          }
          e.ranges.emplace_back(lo, hi);
          k += 2;
        } else {
          e.ranges.emplace_back(body[k], body[k]);
        }
      }
      i = close;
    } else {
      e.ch = c;
    }
    if (e.kind == Element::Kind::kSet && e.ranges.size() == 1 &&
        e.ranges[0].first == e.ranges[0].second) {
      // "[_]" and friends: a literal, so an escaped name still counts as exact.
      e = Element{Element::Kind::kLiteral, e.ranges[0].first, {}};
    }
    if (e.kind != Element::Kind::kLiteral) p.has_wildcards_ = true;
    p.elements_.push_back(std::move(e));
  }
  return p;
}

bool NamePattern::Matches(std::string_view name) const { return MatchFrom(0, name); }

bool NamePattern::MatchFrom(size_t first, std::string_view name) const {
  // Dynamic programming over (pattern element, name position): linear in both, so patterns with
  // many '%' can't blow up.
  std::vector<char> reach(name.size() + 1, 0), next(name.size() + 1, 0);
  reach[0] = 1;
  for (size_t k = first; k < elements_.size(); ++k) {
    const Element& e = elements_[k];
    std::fill(next.begin(), next.end(), 0);
    if (e.kind == Element::Kind::kAnyRun) {
      bool any = false;
      for (size_t i = 0; i <= name.size(); ++i) {
        any = any || reach[i];
        next[i] = any;
      }
    } else {
      for (size_t i = 0; i < name.size(); ++i) {
        if (!reach[i]) continue;
        char c = name[i];
        bool ok = false;
        switch (e.kind) {
          case Element::Kind::kLiteral:
            ok = c == e.ch;
            break;
          case Element::Kind::kAnyOne:
            ok = true;
            break;
          case Element::Kind::kSet:
            for (const auto& [lo, hi] : e.ranges) {
              if (c >= lo && c <= hi) ok = true;
            }
            break;
          case Element::Kind::kAnyRun:
            break;
        }
        if (ok) next[i + 1] = 1;
      }
    }
    reach.swap(next);
  }
  return reach[name.size()] != 0;
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

namespace {

const Json* Find(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

class RuleReader {
 public:
  RuleReader(const Json& rule, int index) : rule_(rule), index_(index) {}

  std::string Path(std::string_view key) const {
    return "rules[" + std::to_string(index_) + "]." + std::string(key);
  }
  Status Error(std::string_view key, std::string_view what) const {
    return Status::InvalidArgument(Path(key) + " " + std::string(what));
  }
  // A string (numbers accepted) at `key` inside `obj` (the rule itself by default).
  Result<std::string> String(std::string_view key, bool required, const Json* obj = nullptr,
                             std::string_view prefix = "") const {
    const Json& o = obj ? *obj : rule_;
    std::string path = std::string(prefix) + std::string(key);
    const Json* v = Find(o, key);
    if (v == nullptr) {
      if (required) return Error(path, "is required");
      return std::string();
    }
    if (!v->is_string() && !v->is_number()) return Error(path, "must be a string");
    return JsonToString(*v, Path(path));
  }
  Result<std::optional<DataTypeSpec>> DataType() const {
    const Json* dt = Find(rule_, "data-type");
    if (dt == nullptr) return std::optional<DataTypeSpec>();
    if (!dt->is_object()) return Error("data-type", "must be an object");
    DataTypeSpec spec;
    ASSIGN_OR_RETURN(std::string type, String("type", true, dt, "data-type."));
    auto parsed = ParseDmsType(type);
    if (!parsed.ok()) return parsed.status().WithContext(Path("data-type.type"));
    spec.type = *parsed;
    if (const Json* v = Find(*dt, "length")) {
      ASSIGN_OR_RETURN(spec.length, JsonToInt(*v, Path("data-type.length")));
    }
    if (const Json* v = Find(*dt, "precision")) {
      ASSIGN_OR_RETURN(int64_t n, JsonToInt(*v, Path("data-type.precision")));
      spec.precision = static_cast<int>(n);
    }
    if (const Json* v = Find(*dt, "scale")) {
      ASSIGN_OR_RETURN(int64_t n, JsonToInt(*v, Path("data-type.scale")));
      spec.scale = static_cast<int>(n);
    }
    bool needs_length = spec.type == DmsType::kString || spec.type == DmsType::kWString ||
                        spec.type == DmsType::kByte;
    if (needs_length && (spec.length < 1 || spec.length > 2147483647)) {
      return Error("data-type.length", "must be 1..2147483647 for type " + type);
    }
    if (spec.type == DmsType::kNumeric && (spec.precision < 1 || spec.precision > 38 ||
                                           spec.scale < 0 || spec.scale > spec.precision)) {
      return Error("data-type", "numeric needs precision 1..38 and scale 0..precision");
    }
    return std::optional<DataTypeSpec>(spec);
  }

 private:
  const Json& rule_;
  int index_;
};

Result<FilterOperator> ParseFilterOperator(std::string_view op, const RuleReader& r,
                                           const std::string& path) {
  if (op == "eq") return FilterOperator::kEq;
  if (op == "noteq") return FilterOperator::kNotEq;
  if (op == "lte" || op == "ste") return FilterOperator::kLte;
  if (op == "gte") return FilterOperator::kGte;
  if (op == "between") return FilterOperator::kBetween;
  if (op == "notbetween") return FilterOperator::kNotBetween;
  if (op == "null") return FilterOperator::kNull;
  if (op == "notnull") return FilterOperator::kNotNull;
  return r.Error(path,
                 "must be one of eq, noteq, lte, ste, gte, between, notbetween, null, "
                 "notnull; got \"" +
                     std::string(op) + "\"");
}

Result<std::vector<SourceFilter>> ParseFilters(const Json& filters, const RuleReader& r) {
  if (!filters.is_array()) return r.Error("filters", "must be an array");
  std::vector<SourceFilter> out;
  for (size_t f = 0; f < filters.size(); ++f) {
    std::string base = "filters[" + std::to_string(f) + "].";
    const Json& filter = filters[f];
    if (!filter.is_object()) return r.Error(base, "must be an object");
    ASSIGN_OR_RETURN(std::string type, r.String("filter-type", true, &filter, base));
    if (type != "source") {
      return r.Error(base + "filter-type", "must be \"source\"; got \"" + type + "\"");
    }
    SourceFilter sf;
    ASSIGN_OR_RETURN(sf.column_name, r.String("column-name", true, &filter, base));
    const Json* conds = Find(filter, "filter-conditions");
    if (conds == nullptr || !conds->is_array() || conds->empty()) {
      return r.Error(base + "filter-conditions", "must be a non-empty array");
    }
    for (size_t c = 0; c < conds->size(); ++c) {
      std::string cbase = base + "filter-conditions[" + std::to_string(c) + "].";
      const Json& cond = (*conds)[c];
      if (!cond.is_object()) return r.Error(cbase, "must be an object");
      FilterCondition fc;
      ASSIGN_OR_RETURN(std::string op, r.String("filter-operator", true, &cond, cbase));
      ASSIGN_OR_RETURN(fc.op, ParseFilterOperator(op, r, cbase + "filter-operator"));
      switch (fc.op) {
        case FilterOperator::kEq:
        case FilterOperator::kNotEq:
        case FilterOperator::kLte:
        case FilterOperator::kGte: {
          ASSIGN_OR_RETURN(fc.value, r.String("value", true, &cond, cbase));
          break;
        }
        case FilterOperator::kBetween:
        case FilterOperator::kNotBetween: {
          ASSIGN_OR_RETURN(fc.start_value, r.String("start-value", true, &cond, cbase));
          ASSIGN_OR_RETURN(fc.end_value, r.String("end-value", true, &cond, cbase));
          break;
        }
        case FilterOperator::kNull:
        case FilterOperator::kNotNull:
          break;
      }
      sf.conditions.push_back(std::move(fc));
    }
    // DMS: a negative operator must be the only condition of its filter (ORing a negation with
    // anything else is almost always a mistake).
    if (sf.conditions.size() > 1) {
      for (const FilterCondition& fc : sf.conditions) {
        if (fc.op == FilterOperator::kNotEq || fc.op == FilterOperator::kNotBetween ||
            fc.op == FilterOperator::kNotNull) {
          return r.Error(base + "filter-conditions",
                         "may hold a negative operator (noteq, notbetween, notnull) only as its "
                         "single condition");
        }
      }
    }
    out.push_back(std::move(sf));
  }
  return out;
}

Result<NamePattern> LocatorPattern(const Json& locator, std::string_view key, bool required,
                                   bool literal, const RuleReader& r) {
  ASSIGN_OR_RETURN(std::string text, r.String(key, required, &locator, "object-locator."));
  if (!required && text.empty()) text = "%";
  auto p = NamePattern::Compile(text, literal);
  if (!p.ok()) return p.status().WithContext(r.Path("object-locator." + std::string(key)));
  return p;
}

Result<SelectionRule> ParseSelection(const Json& rule, const RuleReader& r) {
  SelectionRule s;
  ASSIGN_OR_RETURN(std::string action, r.String("rule-action", true));
  if (action == "include") {
    s.action = SelectionAction::kInclude;
  } else if (action == "exclude") {
    s.action = SelectionAction::kExclude;
  } else if (action == "explicit") {
    s.action = SelectionAction::kExplicit;
  } else {
    return r.Error("rule-action",
                   "must be one of include, exclude, explicit for a selection "
                   "rule; got \"" +
                       action + "\"");
  }
  const Json* locator = Find(rule, "object-locator");
  if (locator == nullptr || !locator->is_object()) {
    return r.Error("object-locator", "is required (an object)");
  }
  bool literal = s.action == SelectionAction::kExplicit;
  ASSIGN_OR_RETURN(s.schema, LocatorPattern(*locator, "schema-name", true, literal, r));
  ASSIGN_OR_RETURN(s.table, LocatorPattern(*locator, "table-name", true, literal, r));
  if (literal && (s.schema.text().find('%') != std::string::npos ||
                  s.table.text().find('%') != std::string::npos)) {
    return r.Error("object-locator", "of an explicit rule must name one table exactly (no %)");
  }
  ASSIGN_OR_RETURN(std::string table_type,
                   r.String("table-type", false, locator, "object-locator."));
  if (!table_type.empty()) {
    if (table_type != "table" && table_type != "view" && table_type != "all") {
      return r.Error("object-locator.table-type",
                     "must be one of table, view, all; got \"" + table_type + "\"");
    }
    s.table_type = table_type;
  }
  if (const Json* order = Find(rule, "load-order")) {
    ASSIGN_OR_RETURN(s.load_order, JsonToInt(*order, r.Path("load-order")));
  }
  if (const Json* filters = Find(rule, "filters")) {
    if (s.action == SelectionAction::kExclude && !filters->empty()) {
      return r.Error("filters", "apply only to include and explicit rules");
    }
    ASSIGN_OR_RETURN(s.filters, ParseFilters(*filters, r));
  }
  return s;
}

struct ActionName {
  std::string_view name;
  TransformationAction action;
};

constexpr ActionName kActions[] = {
    {"rename", TransformationAction::kRename},
    {"convert-lowercase", TransformationAction::kConvertLowercase},
    {"convert-uppercase", TransformationAction::kConvertUppercase},
    {"add-prefix", TransformationAction::kAddPrefix},
    {"remove-prefix", TransformationAction::kRemovePrefix},
    {"replace-prefix", TransformationAction::kReplacePrefix},
    {"add-suffix", TransformationAction::kAddSuffix},
    {"remove-suffix", TransformationAction::kRemoveSuffix},
    {"replace-suffix", TransformationAction::kReplaceSuffix},
    {"remove-column", TransformationAction::kRemoveColumn},
    {"add-column", TransformationAction::kAddColumn},
    {"change-data-type", TransformationAction::kChangeDataType},
    {"define-primary-key", TransformationAction::kDefinePrimaryKey},
};

Result<TransformationRule> ParseTransformation(const Json& rule, const RuleReader& r) {
  TransformationRule t;
  ASSIGN_OR_RETURN(std::string target, r.String("rule-target", true));
  if (target == "schema") {
    t.target = TransformationTarget::kSchema;
  } else if (target == "table") {
    t.target = TransformationTarget::kTable;
  } else if (target == "column") {
    t.target = TransformationTarget::kColumn;
  } else if (target == "table-tablespace" || target == "index-tablespace") {
    return r.Error("rule-target", "\"" + target + "\" applies to Oracle targets only");
  } else {
    return r.Error("rule-target", "must be one of schema, table, column; got \"" + target + "\"");
  }

  ASSIGN_OR_RETURN(std::string action, r.String("rule-action", true));
  bool known = false;
  for (const ActionName& a : kActions) {
    if (a.name == action) {
      t.action = a.action;
      known = true;
    }
  }
  if (!known) {
    if (action == "add-before-image-columns") {
      return r.Error("rule-action",
                     "\"add-before-image-columns\" is not supported (an S3 "
                     "source has no before images)");
    }
    return r.Error("rule-action", "\"" + action + "\" is not a transformation action");
  }
  using A = TransformationAction;
  bool column_only =
      t.action == A::kRemoveColumn || t.action == A::kAddColumn || t.action == A::kChangeDataType;
  if (column_only && t.target != TransformationTarget::kColumn) {
    return r.Error("rule-action", "\"" + action + "\" needs rule-target column");
  }
  if (t.action == A::kDefinePrimaryKey && t.target != TransformationTarget::kTable) {
    return r.Error("rule-action", "\"define-primary-key\" needs rule-target table");
  }

  const Json* locator = Find(rule, "object-locator");
  if (locator == nullptr || !locator->is_object()) {
    return r.Error("object-locator", "is required (an object)");
  }
  ASSIGN_OR_RETURN(t.schema, LocatorPattern(*locator, "schema-name", true, false, r));
  bool needs_table = t.target != TransformationTarget::kSchema;
  ASSIGN_OR_RETURN(t.table, LocatorPattern(*locator, "table-name", needs_table, false, r));
  bool needs_column = t.target == TransformationTarget::kColumn && t.action != A::kAddColumn;
  ASSIGN_OR_RETURN(t.column, LocatorPattern(*locator, "column-name", needs_column, false, r));

  switch (t.action) {
    case A::kRename:
    case A::kAddPrefix:
    case A::kRemovePrefix:
    case A::kAddSuffix:
    case A::kRemoveSuffix:
    case A::kAddColumn: {
      ASSIGN_OR_RETURN(t.value, r.String("value", true));
      if (t.value.empty()) return r.Error("value", "must not be empty");
      break;
    }
    case A::kReplacePrefix:
    case A::kReplaceSuffix: {
      ASSIGN_OR_RETURN(t.value, r.String("value", true));
      ASSIGN_OR_RETURN(t.old_value, r.String("old-value", true));
      if (t.old_value.empty()) return r.Error("old-value", "must not be empty");
      break;
    }
    default:
      break;
  }
  if (t.action == A::kAddColumn || t.action == A::kChangeDataType) {
    ASSIGN_OR_RETURN(t.data_type, r.DataType());
    if (!t.data_type) return r.Error("data-type", "is required for " + action);
  }
  if (t.action == A::kAddColumn) {
    ASSIGN_OR_RETURN(t.expression, r.String("expression", true));
    if (t.expression.empty()) return r.Error("expression", "must not be empty");
  }
  if (t.action == A::kDefinePrimaryKey) {
    const Json* def = Find(rule, "primary-key-def");
    if (def == nullptr || !def->is_object()) {
      return r.Error("primary-key-def", "is required (an object with name and columns)");
    }
    ASSIGN_OR_RETURN(t.primary_key_name, r.String("name", true, def, "primary-key-def."));
    const Json* cols = Find(*def, "columns");
    if (cols == nullptr || !cols->is_array() || cols->empty()) {
      return r.Error("primary-key-def.columns", "must be a non-empty array of column names");
    }
    for (size_t i = 0; i < cols->size(); ++i) {
      if (!(*cols)[i].is_string()) {
        return r.Error("primary-key-def.columns[" + std::to_string(i) + "]", "must be a string");
      }
      t.primary_key_columns.push_back((*cols)[i].get<std::string>());
    }
  }
  return t;
}

// Rule ids order numerically when both are numbers ("2" before "10"), numbers before other ids.
bool RuleIdLess(const std::string& a, const std::string& b) {
  auto numeric = [](const std::string& s, long double& out) {
    if (s.empty()) return false;
    char* end = nullptr;
    out = std::strtold(s.c_str(), &end);
    return end == s.c_str() + s.size();
  };
  long double x = 0, y = 0;
  bool na = numeric(a, x), nb = numeric(b, y);
  if (na && nb) return x < y;
  if (na != nb) return na;
  return a < b;
}

}  // namespace

Result<TableMappings> ParseTableMappings(std::string_view json_text) {
  ASSIGN_OR_RETURN(Json doc, ParseJson(json_text, "TableMappings"));
  if (!doc.is_object()) return Status::InvalidArgument("TableMappings must be a JSON object");
  const Json* rules = Find(doc, "rules");
  if (rules == nullptr || !rules->is_array()) {
    return Status::InvalidArgument("TableMappings must have a \"rules\" array");
  }
  TableMappings out;
  std::set<std::string> ids, names;
  for (size_t i = 0; i < rules->size(); ++i) {
    const Json& rule = (*rules)[i];
    RuleReader r(rule, static_cast<int>(i));
    if (!rule.is_object()) return r.Error("", "must be an object");
    ASSIGN_OR_RETURN(std::string type, r.String("rule-type", true));
    ASSIGN_OR_RETURN(std::string id, r.String("rule-id", true));
    ASSIGN_OR_RETURN(std::string name, r.String("rule-name", true));
    if (id.empty()) return r.Error("rule-id", "must not be empty");
    if (name.empty()) return r.Error("rule-name", "must not be empty");
    if (!ids.insert(id).second) return r.Error("rule-id", "\"" + id + "\" is used twice");
    if (!names.insert(name).second) return r.Error("rule-name", "\"" + name + "\" is used twice");
    if (type == "selection") {
      ASSIGN_OR_RETURN(SelectionRule s, ParseSelection(rule, r));
      s.index = static_cast<int>(i);
      s.rule_id = id;
      s.rule_name = name;
      out.selection.push_back(std::move(s));
    } else if (type == "transformation") {
      ASSIGN_OR_RETURN(TransformationRule t, ParseTransformation(rule, r));
      t.index = static_cast<int>(i);
      t.rule_id = id;
      t.rule_name = name;
      out.transformations.push_back(std::move(t));
    } else if (type == "table-settings") {
      spdlog::info(
          "[mappings] rules[{}] ({}): table-settings rules tune parallel load and LOBs "
          "of database sources; ignored for an S3 source",
          i, name);
    } else {
      return r.Error("rule-type",
                     "must be one of selection, transformation, table-settings; "
                     "got \"" +
                         type + "\"");
    }
  }
  std::stable_sort(out.transformations.begin(), out.transformations.end(),
                   [](const TransformationRule& a, const TransformationRule& b) {
                     return RuleIdLess(a.rule_id, b.rule_id);
                   });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Row filters
// ---------------------------------------------------------------------------------------------

namespace {

bool ParseNumber(std::string_view s, long double& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return false;
  std::string buf(s);
  char* end = nullptr;
  out = std::strtold(buf.c_str(), &end);
  return end == buf.c_str() + buf.size();
}

// -1/0/1, or nullopt when a number column holds something that isn't a number.
std::optional<int> CompareField(DmsType type, std::string_view field, const std::string& value) {
  if (IsNumberType(type)) {
    long double a = 0, b = 0;
    if (!ParseNumber(field, a) || !ParseNumber(value, b)) return std::nullopt;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  int c = field.compare(value);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

bool ConditionHolds(const ColumnFilter& f, const FilterCondition& c,
                    std::span<const std::string_view> fields, std::span<const bool> nulls) {
  size_t i = static_cast<size_t>(f.source_index);
  bool is_null = i >= fields.size() || (i < nulls.size() && nulls[i]);
  if (c.op == FilterOperator::kNull) return is_null;
  if (c.op == FilterOperator::kNotNull) return !is_null;
  if (is_null) return false;  // SQL: comparisons with NULL are not true
  std::string_view v = fields[i];
  switch (c.op) {
    case FilterOperator::kEq: {
      auto r = CompareField(f.type, v, c.value);
      return r && *r == 0;
    }
    case FilterOperator::kNotEq: {
      auto r = CompareField(f.type, v, c.value);
      return r && *r != 0;
    }
    case FilterOperator::kLte: {
      auto r = CompareField(f.type, v, c.value);
      return r && *r <= 0;
    }
    case FilterOperator::kGte: {
      auto r = CompareField(f.type, v, c.value);
      return r && *r >= 0;
    }
    case FilterOperator::kBetween:
    case FilterOperator::kNotBetween: {
      auto lo = CompareField(f.type, v, c.start_value);
      auto hi = CompareField(f.type, v, c.end_value);
      if (!lo || !hi) return false;
      bool inside = *lo >= 0 && *hi <= 0;
      return c.op == FilterOperator::kBetween ? inside : !inside;
    }
    default:
      return false;
  }
}

}  // namespace

bool RowFilter::Matches(std::span<const std::string_view> fields,
                        std::span<const bool> nulls) const {
  if (alternatives_.empty()) return true;
  for (const auto& alternative : alternatives_) {
    bool all = true;
    for (const ColumnFilter& f : alternative) {
      bool any = false;
      for (const FilterCondition& c : f.conditions) {
        if (ConditionHolds(f, c, fields, nulls)) {
          any = true;
          break;
        }
      }
      if (!any) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------

namespace {

std::string RuleLabel(int index, const std::string& name) {
  return "rules[" + std::to_string(index) + "] (rule-name \"" + name + "\")";
}

// Applies a naming action; returns false when the action isn't a naming action.
bool ApplyNameAction(const TransformationRule& t, std::string& name) {
  using A = TransformationAction;
  switch (t.action) {
    case A::kRename:
      name = t.value;
      return true;
    case A::kConvertLowercase:
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return true;
    case A::kConvertUppercase:
      for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return true;
    case A::kAddPrefix:
      name = t.value + name;
      return true;
    case A::kAddSuffix:
      name += t.value;
      return true;
    case A::kRemovePrefix:
      if (name.size() > t.value.size() && name.compare(0, t.value.size(), t.value) == 0) {
        name.erase(0, t.value.size());
      }
      return true;
    case A::kRemoveSuffix:
      if (name.size() > t.value.size() &&
          name.compare(name.size() - t.value.size(), t.value.size(), t.value) == 0) {
        name.erase(name.size() - t.value.size());
      }
      return true;
    case A::kReplacePrefix:
      if (name.compare(0, t.old_value.size(), t.old_value) == 0) {
        name = t.value + name.substr(t.old_value.size());
      }
      return true;
    case A::kReplaceSuffix:
      if (name.size() >= t.old_value.size() &&
          name.compare(name.size() - t.old_value.size(), t.old_value.size(), t.old_value) == 0) {
        name = name.substr(0, name.size() - t.old_value.size()) + t.value;
      }
      return true;
    default:
      return false;
  }
}

bool SelectionMatches(const SelectionRule& s, const TableDefinition& table) {
  if (s.table_type == "view") return false;  // an S3 source has tables only
  return s.schema.Matches(table.owner) && s.table.Matches(table.name);
}

Result<RowFilter> ResolveFilters(const std::vector<const SelectionRule*>& includes,
                                 const TableDefinition& table) {
  std::vector<std::vector<ColumnFilter>> alternatives;
  for (const SelectionRule* s : includes) {
    if (s->filters.empty()) return RowFilter();  // this rule selects every row
    std::vector<ColumnFilter> alternative;
    for (size_t f = 0; f < s->filters.size(); ++f) {
      const SourceFilter& sf = s->filters[f];
      std::string where = RuleLabel(s->index, s->rule_name) + " filters[" + std::to_string(f) + "]";
      auto it = std::find_if(table.columns.begin(), table.columns.end(),
                             [&](const ColumnDefinition& c) { return c.name == sf.column_name; });
      if (it == table.columns.end()) {
        return Status::InvalidArgument(where + ": column \"" + sf.column_name +
                                       "\" is not a column of " + table.owner + "." + table.name);
      }
      ColumnFilter cf;
      cf.source_index = static_cast<int>(it - table.columns.begin());
      cf.type = it->type;
      cf.conditions = sf.conditions;
      if (IsNumberType(cf.type)) {
        for (const FilterCondition& c : cf.conditions) {
          long double ignored;
          for (const std::string* v : {&c.value, &c.start_value, &c.end_value}) {
            if (!v->empty() && !ParseNumber(*v, ignored)) {
              return Status::InvalidArgument(where + ": \"" + *v + "\" is not a number, but " +
                                             sf.column_name + " is " +
                                             std::string(DmsTypeName(cf.type)));
            }
          }
        }
      }
      alternative.push_back(std::move(cf));
    }
    alternatives.push_back(std::move(alternative));
  }
  return RowFilter(std::move(alternatives));
}

Result<MappedTable> MapTable(const TableMappings& mappings, const TableDefinition& table,
                             int table_index, std::string_view target_schema_setting,
                             const std::vector<const SelectionRule*>& includes) {
  MappedTable m;
  m.source_table_index = table_index;
  m.source_schema = table.owner;
  m.source_table = table.name;
  m.target_schema =
      target_schema_setting.empty() ? table.owner : std::string(target_schema_setting);
  m.target_table = table.name;
  for (const SelectionRule* s : includes) m.load_order = std::max(m.load_order, s->load_order);
  ASSIGN_OR_RETURN(m.row_filter, ResolveFilters(includes, table));

  std::vector<TargetColumn> columns;
  std::vector<bool> removed(table.columns.size(), false);
  std::vector<int> removed_by(table.columns.size(), -1);
  for (size_t i = 0; i < table.columns.size(); ++i) {
    TargetColumn c;
    c.name = table.columns[i].name;
    c.definition = table.columns[i];
    c.source_index = static_cast<int>(i);
    columns.push_back(std::move(c));
  }
  std::vector<TargetColumn> added;
  const TransformationRule* primary_key_rule = nullptr;

  using A = TransformationAction;
  for (const TransformationRule& t : mappings.transformations) {
    if (!t.schema.Matches(table.owner)) continue;
    if (t.target == TransformationTarget::kSchema) {
      ApplyNameAction(t, m.target_schema);
      continue;
    }
    if (!t.table.Matches(table.name)) continue;
    if (t.target == TransformationTarget::kTable) {
      if (t.action == A::kDefinePrimaryKey) {
        primary_key_rule = &t;  // the last one in rule-id order wins
      } else {
        ApplyNameAction(t, m.target_table);
      }
      continue;
    }
    // Column rules.
    if (t.action == A::kAddColumn) {
      TargetColumn c;
      c.name = t.value;
      c.definition.name = t.value;
      c.definition.type = t.data_type->type;
      c.definition.length = t.data_type->length;
      c.definition.precision = t.data_type->precision;
      c.definition.scale = t.data_type->scale;
      c.definition.nullable = true;  // an expression can yield NULL
      auto e = Expression::Parse(t.expression, table, t.data_type->type);
      if (!e.ok()) {
        return e.status().WithContext(RuleLabel(t.index, t.rule_name) + " add-column \"" + t.value +
                                      "\" on " + table.owner + "." + table.name);
      }
      c.expression = std::move(e).value();
      added.push_back(std::move(c));
      continue;
    }
    for (size_t i = 0; i < table.columns.size(); ++i) {
      if (removed[i] || !t.column.Matches(table.columns[i].name)) continue;
      if (t.action == A::kRemoveColumn) {
        removed[i] = true;
        removed_by[i] = t.index;
      } else if (t.action == A::kChangeDataType) {
        ColumnDefinition& d = columns[i].definition;
        d.type = t.data_type->type;
        d.length = t.data_type->length;
        d.precision = t.data_type->precision;
        d.scale = t.data_type->scale;
      } else {
        ApplyNameAction(t, columns[i].name);
      }
    }
  }

  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (removed[i] && table.columns[i].is_pk && primary_key_rule == nullptr) {
      const TransformationRule* rule = nullptr;
      for (const TransformationRule& t : mappings.transformations) {
        if (t.index == removed_by[i]) rule = &t;
      }
      return Status::InvalidArgument(
          RuleLabel(rule->index, rule->rule_name) + " removes primary-key column \"" +
          table.columns[i].name + "\" of " + table.owner + "." + table.name +
          "; add a define-primary-key rule to give the table another key");
    }
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (!removed[i]) m.columns.push_back(std::move(columns[i]));
  }
  for (TargetColumn& c : added) m.columns.push_back(std::move(c));

  std::map<std::string, const TargetColumn*> by_name;
  for (const TargetColumn& c : m.columns) {
    auto [it, inserted] = by_name.emplace(c.name, &c);
    if (!inserted) {
      auto describe = [](const TargetColumn& col) {
        return col.source_index >= 0 ? "source column \"" + col.definition.name + "\""
                                     : std::string("added column");
      };
      return Status::InvalidArgument("table " + table.owner + "." + table.name +
                                     ": two target columns are named \"" + c.name + "\" (" +
                                     describe(*it->second) + " and " + describe(c) + ")");
    }
  }

  if (primary_key_rule != nullptr) {
    for (TargetColumn& c : m.columns) c.definition.is_pk = false;
    for (const std::string& key : primary_key_rule->primary_key_columns) {
      TargetColumn* found = nullptr;
      for (TargetColumn& c : m.columns) {
        if (c.name == key) found = &c;
      }
      if (found == nullptr) {
        for (TargetColumn& c : m.columns) {
          if (c.source_index >= 0 && c.definition.name == key) found = &c;
        }
      }
      if (found == nullptr) {
        return Status::InvalidArgument(
            RuleLabel(primary_key_rule->index, primary_key_rule->rule_name) +
            " primary-key-def.columns names \"" + key + "\", which " + table.owner + "." +
            table.name + " does not have");
      }
      if (found->definition.is_pk) continue;  // listed twice
      found->definition.is_pk = true;
      found->definition.nullable = false;
      m.primary_key.push_back(static_cast<int>(found - m.columns.data()));
    }
    m.primary_key_name = primary_key_rule->primary_key_name;
  } else {
    for (size_t i = 0; i < m.columns.size(); ++i) {
      if (m.columns[i].definition.is_pk) m.primary_key.push_back(static_cast<int>(i));
    }
  }
  return m;
}

}  // namespace

Result<std::vector<MappedTable>> ResolveTableMappings(const TableMappings& mappings,
                                                      const ExternalTableDefinition& tables,
                                                      std::string_view target_schema_setting) {
  std::vector<MappedTable> out;
  for (size_t ti = 0; ti < tables.tables.size(); ++ti) {
    const TableDefinition& table = tables.tables[ti];
    std::vector<const SelectionRule*> includes;
    bool excluded = false;
    for (const SelectionRule& s : mappings.selection) {
      if (!SelectionMatches(s, table)) continue;
      if (s.action == SelectionAction::kExclude) {
        excluded = true;
      } else {
        includes.push_back(&s);
      }
    }
    if (excluded || includes.empty()) continue;
    ASSIGN_OR_RETURN(MappedTable m, MapTable(mappings, table, static_cast<int>(ti),
                                             target_schema_setting, includes));
    out.push_back(std::move(m));
  }

  std::map<std::pair<std::string, std::string>, const MappedTable*> targets;
  for (const MappedTable& m : out) {
    auto [it, inserted] = targets.emplace(std::make_pair(m.target_schema, m.target_table), &m);
    if (!inserted) {
      return Status::InvalidArgument("source tables " + it->second->source_schema + "." +
                                     it->second->source_table + " and " + m.source_schema + "." +
                                     m.source_table + " both map to target table " +
                                     m.target_schema + "." + m.target_table +
                                     "; DMS does not allow two source tables in "
                                     "one target table");
    }
  }

  std::stable_sort(out.begin(), out.end(), [](const MappedTable& a, const MappedTable& b) {
    if (a.load_order != b.load_order) return a.load_order > b.load_order;
    return std::tie(a.source_schema, a.source_table) < std::tie(b.source_schema, b.source_table);
  });
  return out;
}

}  // namespace opendms::engine
