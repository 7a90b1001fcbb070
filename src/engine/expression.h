// engine (internal): the expressions of `add-column` transformation rules — the SQLite-syntax
// subset DMS evaluates per row — parsed once per table, evaluated per row without touching the
// table definition again.
//
// Supported: string literals '…' ('' is a quote), integer and real literals, NULL, `$column`
// (a source column, by its exact ColumnName), `$AR_M_SOURCE_SCHEMA`, `$AR_M_SOURCE_TABLE_NAME`,
// `||`, unary - and +, * / %, + -, < <= > >=, = == != <>, IS [NOT], IS [NOT] NULL, NOT, AND, OR,
// `CASE [base] WHEN … THEN … [ELSE …] END`, and the functions upper, lower, trim, ltrim, rtrim,
// substr/substring, replace, length, coalesce, ifnull, nullif, round, abs, min, max (scalar).
//
// Values follow SQLite: NULL, INTEGER (int64), REAL (double) or TEXT. A `$column` of an integer
// DMS type reads as INTEGER, NUMERIC/REAL4/REAL8 as INTEGER or REAL (SQLite's NUMERIC affinity),
// other types as TEXT; a field that doesn't parse as its number type reads as TEXT. Arithmetic on
// TEXT converts its numeric prefix (SQLite: 'abc'+1 = 1); division by zero is NULL. The result is
// rendered as text the way SQLite would print it ("20.0" for a REAL), except that a REAL with an
// integral value is printed without ".0" when the declared result type is an integer type.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "engine/table_definition.h"

namespace opendms::engine {

// One source row. `fields` are the row's CSV fields in TableColumns order; `nulls[i]` says field
// i is NULL (an empty `nulls` means no field is NULL).
struct ExpressionContext {
  std::span<const std::string_view> fields;
  std::span<const bool> nulls;
  std::string_view source_schema, source_table;
};

namespace expr_internal {
struct Node;
}

// An immutable parsed expression; safe to evaluate from several threads at once.
class Expression {
 public:
  // Parses `text`, resolving each `$name` to the index of the source column of that name.
  // `result_type` is the add-column rule's data-type; it only affects how a REAL result is
  // printed (see the header comment). Errors (InvalidArgument) name the expression and the
  // character position: `expression "upper($nme)" at position 7: unknown column $nme in s.t`.
  static Result<std::shared_ptr<const Expression>> Parse(std::string_view text,
                                                         const TableDefinition& source_table,
                                                         DmsType result_type = DmsType::kString);

  // Evaluates the expression for one row. NULL → std::nullopt. Fails (DataError) only when the
  // row has fewer fields than a referenced column's index.
  Result<std::optional<std::string>> Evaluate(const ExpressionContext& ctx) const;

  const std::string& text() const { return text_; }
  // Indexes of the source fields the expression reads, ascending, without duplicates.
  const std::vector<int>& referenced_fields() const { return referenced_fields_; }

  ~Expression();
  Expression(const Expression&) = delete;
  Expression& operator=(const Expression&) = delete;

 private:
  Expression();
  std::string text_;
  DmsType result_type_ = DmsType::kString;
  std::unique_ptr<expr_internal::Node> root_;
  std::vector<int> referenced_fields_;
  std::vector<DmsType> field_types_;  // per source field: how `$column` values are typed
};

}  // namespace opendms::engine
