// engine (internal): the S3 source's ExternalTableDefinition, parsed and validated, and the
// PostgreSQL column types DMS maps its types to.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"

namespace opendms::engine {

// Column types DMS lists for S3 sources (plus WSTRING/NCLOB from DMS's general type list).
enum class DmsType {
  kByte,
  kDate,
  kTime,
  kDateTime,
  kInt1,
  kInt2,
  kInt4,
  kInt8,
  kNumeric,
  kReal4,
  kReal8,
  kString,
  kWString,
  kUint1,
  kUint2,
  kUint4,
  kUint8,
  kBlob,
  kClob,
  kNClob,
  kBoolean,
};

// "INT4", "DATETIME", … as DMS spells them.
std::string_view DmsTypeName(DmsType type);
// INT1…INT8 and UINT1…UINT8.
bool IsIntegerType(DmsType type);
// The integer types, NUMERIC, REAL4 and REAL8: values that compare as numbers.
bool IsNumberType(DmsType type);
// Case-insensitive; the error lists the valid names.
Result<DmsType> ParseDmsType(std::string_view name);

struct ColumnDefinition {
  std::string name;  // ColumnName, case kept
  DmsType type = DmsType::kString;
  int64_t length = 0;        // ColumnLength: STRING/WSTRING/BYTE, characters (bytes for BYTE)
  int precision = 0;         // ColumnPrecision: NUMERIC total digits (1..38)
  int scale = 0;             // ColumnScale: NUMERIC fraction digits; DATETIME fraction digits
  bool scale_given = false;  // ColumnScale was present: DATETIME 0–6 → TIMESTAMP(scale), else
                             // TIMESTAMP (microseconds kept)
  bool nullable = false;     // ColumnNullable (DMS default: false, i.e. NOT NULL)
  bool is_pk = false;        // ColumnIsPk
  std::string date_format;   // ColumnDateFormat, empty = the type's default text form
};

struct TableDefinition {
  std::string name;   // TableName
  std::string owner;  // TableOwner: the source schema
  std::string path;   // TablePath, relative to BucketFolder, always ending in '/'
  std::vector<ColumnDefinition> columns;  // in file column order
};

struct ExternalTableDefinition {
  std::vector<TableDefinition> tables;
};

// Parses the JSON text of an ExternalTableDefinition (TableCount, Tables[…]). Numbers and
// booleans are accepted as JSON strings, as AWS's own samples write them. Checks TableCount and
// TableColumnsTotal against the arrays, required keys per type (STRING/BYTE need ColumnLength,
// NUMERIC needs ColumnPrecision), ranges (precision ≤ 38, scale ≤ precision, DATETIME scale ≤ 9),
// ColumnDateFormat against DMS's allowed patterns, and duplicate table/column names. Every
// error names the JSON path ("Tables[1].TableColumns[3].ColumnType").
Result<ExternalTableDefinition> ParseExternalTableDefinition(std::string_view json_text);

// The PostgreSQL type DMS creates for the column ("VARCHAR(64)", "NUMERIC(12,2)", "TIMESTAMP").
// DATETIME: TIMESTAMP(scale) when ColumnScale was given (0–6), TIMESTAMP otherwise, VARCHAR(37)
// for scale 7–9. STRING/WSTRING: VARCHAR(n) for 1–21845, VARCHAR(65535) above, VARCHAR for 0.
// UINT8 lands in BIGINT, so values above INT64_MAX are out of range. See docs/types.md.
std::string PostgresTypeFor(const ColumnDefinition& column);

// The text layout of a DATE/TIME/DATETIME value: a ColumnDateFormat pattern, decoded, or the
// type's default form when the pattern is empty.
struct DateTimeLayout {
  enum class DateOrder { kNone, kYearMonthDay, kMonthDayYear };
  DateOrder date_order = DateOrder::kNone;  // kNone: no date part (TIME default form)
  char date_separator = '-';                // '-', '/', or '\0' (YYYYMMdd)
  bool has_time = false;                    // an HH:MM:SS part follows the date (or stands alone)
  bool time_optional = false;               // default DATETIME form: a date alone means 00:00:00
  bool t_separator = false;                 // default forms: 'T' accepted between date and time
  bool fraction_allowed = false;            // ".f…" (1–9 digits) may follow the seconds
};

// Decodes ColumnDateFormat for a column of `type` (DATE, TIME or DATETIME). Allowed patterns:
// `YYYY-MM-dd HH:mm:ss`, `YYYY/MM/dd HH:mm:ss`, `MM/dd/YYYY HH:mm:ss`, `YYYYMMdd HH:mm:ss`, each
// optionally with a `.F` suffix (a fraction of 1–9 digits then may, not must, follow); DATE also
// takes the date part alone, TIME `HH:mm:ss[.F]`. The parts a type doesn't store (the time of a
// DATE, the date of a TIME) are validated and dropped. Empty pattern = the type's default form:
// DATE `YYYY-MM-DD`, TIME `HH:MM:SS[.f]`, DATETIME `YYYY-MM-DD[( |T)HH:MM:SS[.f]]`.
// InvalidArgument (listing the allowed patterns) for anything else.
Result<DateTimeLayout> ParseColumnDateFormat(DmsType type, std::string_view pattern);

}  // namespace opendms::engine
