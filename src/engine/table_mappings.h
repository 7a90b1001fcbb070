// engine (internal): a task's TableMappings — selection rules (which source tables, which rows)
// and transformation rules (target names, removed and added columns, primary keys) — parsed from
// DMS's JSON and resolved against the S3 source's ExternalTableDefinition into the list of tables
// the task migrates.
//
// Resolution rules (DMS's where documented; docs/task-settings.md has the full list):
//  - A source table is migrated when at least one include/explicit rule matches it and no exclude
//    rule does, whatever the rule order. Patterns: `%` any run, `_` one character, `[_]` a
//    literal `_`, `[ab]` a set, `[a-d]` a range; case-sensitive. explicit takes exact names.
//  - Transformation object-locators match SOURCE names (schema, table, column), with the same
//    wildcards. All matching transformations apply, in rule-id order, each to the name the
//    previous ones produced. (DMS documents "one action per object"; it does not say what happens
//    with more. Applying them in order makes the common rename + convert-lowercase combination
//    predictable.)
//  - TaskSettings' TargetSchema, when set, replaces the source schema before schema rules run.
//  - Errors: two source tables mapping to one target table; two columns of a table sharing a
//    name; removing a primary-key column unless a define-primary-key rule gives the table a new
//    key; define-primary-key naming a column the table doesn't have.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "engine/expression.h"
#include "engine/table_definition.h"

namespace opendms::engine {

// ---------------------------------------------------------------------------------------------
// Parsed rules
// ---------------------------------------------------------------------------------------------

// A DMS name pattern (`%`, `_`, `[…]`), compiled once.
class NamePattern {
 public:
  // Fails on an unterminated `[`. `literal` = true compares the text exactly (explicit rules).
  static Result<NamePattern> Compile(std::string_view pattern, bool literal = false);
  bool Matches(std::string_view name) const;
  const std::string& text() const { return text_; }
  bool has_wildcards() const { return has_wildcards_; }

 private:
  struct Element {
    enum class Kind { kLiteral, kAnyRun, kAnyOne, kSet };
    Kind kind = Kind::kLiteral;
    char ch = 0;
    std::vector<std::pair<char, char>> ranges;  // kSet: inclusive byte ranges
  };
  bool MatchFrom(size_t element, std::string_view name) const;
  std::string text_;
  std::vector<Element> elements_;
  bool has_wildcards_ = false;
};

enum class FilterOperator { kEq, kNotEq, kLte, kGte, kBetween, kNotBetween, kNull, kNotNull };

struct FilterCondition {
  FilterOperator op = FilterOperator::kEq;
  std::string value;                   // eq, noteq, lte/ste, gte
  std::string start_value, end_value;  // between, notbetween
};

// One entry of a selection rule's "filters": conditions on one source column, ORed.
struct SourceFilter {
  std::string column_name;
  std::vector<FilterCondition> conditions;
};

enum class SelectionAction { kInclude, kExclude, kExplicit };

struct SelectionRule {
  int index = 0;  // position in "rules", for messages
  std::string rule_id, rule_name;
  NamePattern schema, table;
  std::string table_type = "table";  // table | view | all
  SelectionAction action = SelectionAction::kInclude;
  int64_t load_order = 0;
  std::vector<SourceFilter> filters;  // ANDed; include/explicit only
};

enum class TransformationTarget { kSchema, kTable, kColumn };

enum class TransformationAction {
  kRename,
  kConvertLowercase,
  kConvertUppercase,
  kAddPrefix,
  kRemovePrefix,
  kReplacePrefix,
  kAddSuffix,
  kRemoveSuffix,
  kReplaceSuffix,
  kRemoveColumn,
  kAddColumn,
  kChangeDataType,
  kDefinePrimaryKey,
};

// A "data-type" object: {type, length, precision, scale}.
struct DataTypeSpec {
  DmsType type = DmsType::kString;
  int64_t length = 0;
  int precision = 0;
  int scale = 0;
};

struct TransformationRule {
  int index = 0;  // position in "rules"
  std::string rule_id, rule_name;
  TransformationTarget target = TransformationTarget::kTable;
  TransformationAction action = TransformationAction::kRename;
  NamePattern schema, table, column;  // table/column match everything when not applicable
  std::string value, old_value;
  std::string expression;                 // add-column
  std::optional<DataTypeSpec> data_type;  // add-column (required), change-data-type
  std::string primary_key_name;           // define-primary-key
  std::vector<std::string> primary_key_columns;
};

struct TableMappings {
  std::vector<SelectionRule> selection;             // in document order
  std::vector<TransformationRule> transformations;  // in rule-id order
};

// Parses TableMappings JSON ({"rules":[…]}). rule-id/rule-name may be strings or numbers; both
// must be unique. table-settings rules are accepted and ignored (with a log line: they tune
// parallel load and LOBs of database sources). Errors (InvalidArgument) name the rule and key:
// "rules[2].object-locator.table-name is required".
Result<TableMappings> ParseTableMappings(std::string_view json_text);

// ---------------------------------------------------------------------------------------------
// Resolved tables
// ---------------------------------------------------------------------------------------------

struct TargetColumn {
  std::string name;             // after transformations
  ColumnDefinition definition;  // type etc. (name == original source name for mapped columns)
  int source_index = -1;        // index of the CSV field it comes from; -1 for add-column
  // add-column only. Shared because a resolved table is copied (per task run, per reload) and the
  // parsed expression is immutable.
  std::shared_ptr<const Expression> expression;
};

// A selection filter resolved to field indexes: a row passes when, for any alternative, every
// column filter of that alternative has a satisfied condition. No alternatives = every row.
struct ColumnFilter {
  int source_index = -1;
  DmsType type = DmsType::kString;  // numbers compare as numbers, everything else as text
  std::vector<FilterCondition> conditions;
};

class RowFilter {
 public:
  RowFilter() = default;
  explicit RowFilter(std::vector<std::vector<ColumnFilter>> alternatives)
      : alternatives_(std::move(alternatives)) {}
  bool empty() const { return alternatives_.empty(); }
  // `nulls` may be empty (no NULLs). A field index past `fields` counts as NULL.
  bool Matches(std::span<const std::string_view> fields, std::span<const bool> nulls) const;

 private:
  std::vector<std::vector<ColumnFilter>> alternatives_;
};

struct MappedTable {
  int source_table_index = -1;  // into ExternalTableDefinition::tables
  std::string source_schema, source_table;
  std::string target_schema, target_table;
  std::vector<TargetColumn> columns;  // target column order
  int64_t load_order = 0;
  // Indexes into `columns`, in key order: the define-primary-key rule's order, else the ColumnIsPk
  // columns in column order. Matches the columns whose definition.is_pk is set.
  std::vector<int> primary_key;
  std::string primary_key_name;  // from define-primary-key; "" = DMS's default naming
  RowFilter row_filter;          // selection-rule source filters
};

// The tables the task migrates, in load order (higher load-order first, then source schema,
// source table). target_schema_setting: TaskSettings::target_schema ("" = keep). Returns an empty
// list when nothing matches; the caller applies FailOnNoTablesCaptured.
Result<std::vector<MappedTable>> ResolveTableMappings(const TableMappings& mappings,
                                                      const ExternalTableDefinition& tables,
                                                      std::string_view target_schema_setting);

}  // namespace opendms::engine
