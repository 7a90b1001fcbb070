// The ExternalTableDefinition parser and DMS's type mapping to PostgreSQL (dms-semantics §4.2,
// §5.3).
#include "engine/table_definition.h"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

namespace opendms::engine {
namespace {

struct TypeName {
  DmsType type;
  std::string_view name;
};

// In the order DMS's documentation lists them; ParseDmsType's error prints this order.
constexpr std::array<TypeName, 21> kTypeNames = {{
    {DmsType::kByte, "BYTE"},         {DmsType::kDate, "DATE"},   {DmsType::kTime, "TIME"},
    {DmsType::kDateTime, "DATETIME"}, {DmsType::kInt1, "INT1"},   {DmsType::kInt2, "INT2"},
    {DmsType::kInt4, "INT4"},         {DmsType::kInt8, "INT8"},   {DmsType::kNumeric, "NUMERIC"},
    {DmsType::kReal4, "REAL4"},       {DmsType::kReal8, "REAL8"}, {DmsType::kString, "STRING"},
    {DmsType::kWString, "WSTRING"},   {DmsType::kUint1, "UINT1"}, {DmsType::kUint2, "UINT2"},
    {DmsType::kUint4, "UINT4"},       {DmsType::kUint8, "UINT8"}, {DmsType::kBlob, "BLOB"},
    {DmsType::kClob, "CLOB"},         {DmsType::kNClob, "NCLOB"}, {DmsType::kBoolean, "BOOLEAN"},
}};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

// VARCHAR lengths DMS keeps as they are; longer STRING columns become VARCHAR(65535).
constexpr int64_t kMaxVarcharLength = 21845;
constexpr int64_t kCappedVarcharLength = 65535;
constexpr int64_t kMaxColumnLength = 2147483647;
constexpr int kMaxNumericPrecision = 38;
constexpr int kMaxDateTimeScale = 9;
// PostgreSQL silently truncates longer identifiers (NAMEDATALEN - 1), which could merge names.
constexpr size_t kMaxIdentifierBytes = 63;

constexpr std::string_view kAllowedDateFormats =
    "YYYY-MM-dd HH:mm:ss, YYYY/MM/dd HH:mm:ss, MM/dd/YYYY HH:mm:ss, YYYYMMdd HH:mm:ss "
    "(each optionally with a .F suffix; DATE columns also take the date part alone, TIME columns "
    "HH:mm:ss[.F])";

// Reads an optional integer member; `*out` stays untouched when the key is absent.
Status ReadInt(const Json& obj, const char* key, const std::string& path, int64_t* out,
               bool* present = nullptr) {
  auto it = obj.find(key);
  if (present != nullptr) *present = it != obj.end();
  if (it == obj.end()) return Status::Ok();
  ASSIGN_OR_RETURN(*out, JsonToInt(*it, path + "." + key));
  return Status::Ok();
}

Status ReadBool(const Json& obj, const char* key, const std::string& path, bool* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::Ok();
  ASSIGN_OR_RETURN(*out, JsonToBool(*it, path + "." + key));
  return Status::Ok();
}

// A required, non-empty string member.
Status ReadName(const Json& obj, const char* key, const std::string& path, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::InvalidArgument(path + "." + key + " is required");
  ASSIGN_OR_RETURN(*out, JsonToString(*it, path + "." + key));
  if (out->empty()) return Status::InvalidArgument(path + "." + key + " must not be empty");
  return Status::Ok();
}

Status CheckIdentifier(const std::string& name, const std::string& field) {
  if (name.size() > kMaxIdentifierBytes) {
    return Status::InvalidArgument(field + " \"" + name + "\" is longer than " +
                                   std::to_string(kMaxIdentifierBytes) +
                                   " bytes, PostgreSQL's identifier limit");
  }
  if (name.find('\0') != std::string::npos) {
    return Status::InvalidArgument(field + " must not contain a NUL character");
  }
  return Status::Ok();
}

Status CheckRange(int64_t value, int64_t lo, int64_t hi, const std::string& field) {
  if (value < lo || value > hi) {
    return Status::InvalidArgument(field + " must be between " + std::to_string(lo) + " and " +
                                   std::to_string(hi) + ", got " + std::to_string(value));
  }
  return Status::Ok();
}

Result<ColumnDefinition> ParseColumn(const Json& obj, const std::string& path) {
  if (!obj.is_object()) return Status::InvalidArgument(path + " must be an object");
  ColumnDefinition column;
  RETURN_IF_ERROR(ReadName(obj, "ColumnName", path, &column.name));
  RETURN_IF_ERROR(CheckIdentifier(column.name, path + ".ColumnName"));

  std::string type_name;
  RETURN_IF_ERROR(ReadName(obj, "ColumnType", path, &type_name));
  Result<DmsType> type = ParseDmsType(type_name);
  if (!type.ok()) return type.status().WithContext(path + ".ColumnType");
  column.type = *type;

  bool has_length = false;
  RETURN_IF_ERROR(ReadInt(obj, "ColumnLength", path, &column.length, &has_length));
  RETURN_IF_ERROR(CheckRange(column.length, 0, kMaxColumnLength, path + ".ColumnLength"));
  if (!has_length && (column.type == DmsType::kString || column.type == DmsType::kWString ||
                      column.type == DmsType::kByte)) {
    return Status::InvalidArgument(path + ".ColumnLength is required for a " +
                                   std::string(DmsTypeName(column.type)) + " column");
  }

  int64_t precision = 0;
  bool has_precision = false;
  RETURN_IF_ERROR(ReadInt(obj, "ColumnPrecision", path, &precision, &has_precision));
  int64_t scale = 0;
  RETURN_IF_ERROR(ReadInt(obj, "ColumnScale", path, &scale, &column.scale_given));
  if (column.type == DmsType::kNumeric) {
    if (!has_precision) {
      return Status::InvalidArgument(path + ".ColumnPrecision is required for a NUMERIC column");
    }
    RETURN_IF_ERROR(CheckRange(precision, 1, kMaxNumericPrecision, path + ".ColumnPrecision"));
    RETURN_IF_ERROR(CheckRange(scale, 0, precision, path + ".ColumnScale"));
  } else if (column.type == DmsType::kDateTime) {
    RETURN_IF_ERROR(CheckRange(scale, 0, kMaxDateTimeScale, path + ".ColumnScale"));
  } else {
    // Other types ignore precision and scale (DMS samples carry them on any column); keep them
    // in range so the int conversion below cannot overflow.
    RETURN_IF_ERROR(CheckRange(precision, 0, 1000, path + ".ColumnPrecision"));
    RETURN_IF_ERROR(CheckRange(scale, 0, 1000, path + ".ColumnScale"));
  }
  column.precision = static_cast<int>(precision);
  column.scale = static_cast<int>(scale);

  RETURN_IF_ERROR(ReadBool(obj, "ColumnNullable", path, &column.nullable));
  RETURN_IF_ERROR(ReadBool(obj, "ColumnIsPk", path, &column.is_pk));

  if (auto it = obj.find("ColumnDateFormat"); it != obj.end()) {
    ASSIGN_OR_RETURN(column.date_format, JsonToString(*it, path + ".ColumnDateFormat"));
    if (column.type == DmsType::kDate || column.type == DmsType::kTime ||
        column.type == DmsType::kDateTime) {
      Result<DateTimeLayout> layout = ParseColumnDateFormat(column.type, column.date_format);
      if (!layout.ok()) return layout.status().WithContext(path + ".ColumnDateFormat");
    }
    // Other types never read the pattern; DMS ignores it there too.
  }
  return column;
}

// TablePath is relative to BucketFolder and always ends in '/'. It must not climb out of the
// bucket folder: object keys never escape their bucket's directory (DESIGN.md, Security).
Status NormalizeTablePath(std::string* table_path, const std::string& field) {
  if (table_path->front() == '/') {
    return Status::InvalidArgument(field + " must be relative to BucketFolder, got \"" +
                                   *table_path + "\"");
  }
  size_t start = 0;
  while (start <= table_path->size()) {
    size_t end = table_path->find('/', start);
    if (end == std::string::npos) end = table_path->size();
    std::string_view segment(table_path->data() + start, end - start);
    if (segment == "..") {
      return Status::InvalidArgument(field + " must not contain \"..\", got \"" + *table_path +
                                     "\"");
    }
    start = end + 1;
  }
  if (table_path->back() != '/') table_path->push_back('/');
  return Status::Ok();
}

Result<TableDefinition> ParseTable(const Json& obj, const std::string& path) {
  if (!obj.is_object()) return Status::InvalidArgument(path + " must be an object");
  TableDefinition table;
  RETURN_IF_ERROR(ReadName(obj, "TableName", path, &table.name));
  RETURN_IF_ERROR(CheckIdentifier(table.name, path + ".TableName"));
  RETURN_IF_ERROR(ReadName(obj, "TableOwner", path, &table.owner));
  RETURN_IF_ERROR(CheckIdentifier(table.owner, path + ".TableOwner"));
  RETURN_IF_ERROR(ReadName(obj, "TablePath", path, &table.path));
  RETURN_IF_ERROR(NormalizeTablePath(&table.path, path + ".TablePath"));

  auto columns = obj.find("TableColumns");
  if (columns == obj.end()) return Status::InvalidArgument(path + ".TableColumns is required");
  if (!columns->is_array()) return Status::InvalidArgument(path + ".TableColumns must be an array");
  if (columns->empty()) return Status::InvalidArgument(path + ".TableColumns must not be empty");

  int64_t total = 0;
  bool has_total = false;
  RETURN_IF_ERROR(ReadInt(obj, "TableColumnsTotal", path, &total, &has_total));
  if (has_total && total != static_cast<int64_t>(columns->size())) {
    return Status::InvalidArgument(path + ".TableColumnsTotal is " + std::to_string(total) +
                                   " but TableColumns has " + std::to_string(columns->size()) +
                                   " columns");
  }

  std::set<std::string_view> names;
  table.columns.reserve(columns->size());
  for (size_t i = 0; i < columns->size(); ++i) {
    std::string column_path = path + ".TableColumns[" + std::to_string(i) + "]";
    ASSIGN_OR_RETURN(ColumnDefinition column, ParseColumn((*columns)[i], column_path));
    table.columns.push_back(std::move(column));
  }
  // A second pass: names point into table.columns, which no longer reallocates.
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (!names.insert(table.columns[i].name).second) {
      return Status::InvalidArgument(path + ".TableColumns[" + std::to_string(i) +
                                     "].ColumnName: duplicate column \"" + table.columns[i].name +
                                     "\"");
    }
  }
  return table;
}

}  // namespace

std::string_view DmsTypeName(DmsType type) {
  for (const TypeName& t : kTypeNames) {
    if (t.type == type) return t.name;
  }
  return "UNKNOWN";
}

Result<DmsType> ParseDmsType(std::string_view name) {
  for (const TypeName& t : kTypeNames) {
    if (EqualsIgnoreCase(t.name, name)) return t.type;
  }
  std::string valid;
  for (const TypeName& t : kTypeNames) {
    if (!valid.empty()) valid += ", ";
    valid += t.name;
  }
  return Status::InvalidArgument("unknown DMS type \"" + std::string(name) +
                                 "\"; valid types: " + valid);
}

Result<ExternalTableDefinition> ParseExternalTableDefinition(std::string_view json_text) {
  ASSIGN_OR_RETURN(Json doc, ParseJson(json_text, "ExternalTableDefinition"));
  if (!doc.is_object()) {
    return Status::InvalidArgument("ExternalTableDefinition must be a JSON object");
  }
  auto tables = doc.find("Tables");
  if (tables == doc.end()) return Status::InvalidArgument("Tables is required");
  if (!tables->is_array()) return Status::InvalidArgument("Tables must be an array");

  int64_t count = 0;
  bool has_count = false;
  RETURN_IF_ERROR(ReadInt(doc, "TableCount", "", &count, &has_count));
  if (has_count && count != static_cast<int64_t>(tables->size())) {
    return Status::InvalidArgument("TableCount is " + std::to_string(count) + " but Tables has " +
                                   std::to_string(tables->size()) + " tables");
  }

  ExternalTableDefinition definition;
  definition.tables.reserve(tables->size());
  std::set<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < tables->size(); ++i) {
    std::string path = "Tables[" + std::to_string(i) + "]";
    ASSIGN_OR_RETURN(TableDefinition table, ParseTable((*tables)[i], path));
    if (!seen.emplace(table.owner, table.name).second) {
      return Status::InvalidArgument(path + ".TableName: duplicate table \"" + table.owner + "." +
                                     table.name + "\"");
    }
    definition.tables.push_back(std::move(table));
  }
  return definition;
}

std::string PostgresTypeFor(const ColumnDefinition& column) {
  switch (column.type) {
    case DmsType::kByte:
    case DmsType::kBlob:
      return "BYTEA";
    case DmsType::kDate:
      return "DATE";
    case DmsType::kTime:
      return "TIME";
    case DmsType::kDateTime:
      if (column.scale > 6) return "VARCHAR(37)";
      if (column.scale_given) return "TIMESTAMP(" + std::to_string(column.scale) + ")";
      return "TIMESTAMP";
    case DmsType::kInt1:
    case DmsType::kInt2:
    case DmsType::kUint1:
      return "SMALLINT";
    case DmsType::kInt4:
    case DmsType::kUint2:
      return "INTEGER";
    case DmsType::kInt8:
    case DmsType::kUint4:
    case DmsType::kUint8:
      return "BIGINT";
    case DmsType::kNumeric:
      return "NUMERIC(" + std::to_string(column.precision) + "," + std::to_string(column.scale) +
             ")";
    case DmsType::kReal4:
      return "REAL";
    case DmsType::kReal8:
      return "DOUBLE PRECISION";
    case DmsType::kString:
    case DmsType::kWString:
      if (column.length == 0) return "VARCHAR";
      if (column.length <= kMaxVarcharLength) {
        return "VARCHAR(" + std::to_string(column.length) + ")";
      }
      return "VARCHAR(" + std::to_string(kCappedVarcharLength) + ")";
    case DmsType::kClob:
    case DmsType::kNClob:
      return "TEXT";
    case DmsType::kBoolean:
      return "BOOLEAN";
  }
  return "TEXT";
}

Result<DateTimeLayout> ParseColumnDateFormat(DmsType type, std::string_view pattern) {
  using Order = DateTimeLayout::DateOrder;
  DateTimeLayout layout;
  if (pattern.empty()) {
    switch (type) {
      case DmsType::kDate:
        layout.date_order = Order::kYearMonthDay;
        return layout;
      case DmsType::kTime:
        layout.has_time = true;
        layout.fraction_allowed = true;
        return layout;
      case DmsType::kDateTime:
        layout.date_order = Order::kYearMonthDay;
        layout.has_time = true;
        layout.time_optional = true;
        layout.t_separator = true;
        layout.fraction_allowed = true;
        return layout;
      default:
        return Status::InvalidArgument(std::string(DmsTypeName(type)) + " has no date format");
    }
  }
  if (type != DmsType::kDate && type != DmsType::kTime && type != DmsType::kDateTime) {
    return Status::InvalidArgument(std::string(DmsTypeName(type)) + " has no date format");
  }

  auto rejected = [&] {
    return Status::InvalidArgument("\"" + std::string(pattern) + "\" is not a date format DMS " +
                                   "allows for a " + std::string(DmsTypeName(type)) +
                                   " column; allowed: " + std::string(kAllowedDateFormats));
  };
  std::string_view rest = pattern;
  constexpr std::string_view kFraction = ".F";
  if (rest.size() >= kFraction.size() && rest.substr(rest.size() - kFraction.size()) == kFraction) {
    layout.fraction_allowed = true;
    rest.remove_suffix(kFraction.size());
  }
  constexpr std::string_view kTime = "HH:mm:ss";
  if (rest.size() >= kTime.size() && rest.substr(rest.size() - kTime.size()) == kTime) {
    layout.has_time = true;
    rest.remove_suffix(kTime.size());
    if (!rest.empty()) {
      // A date part is separated from the time by one space; anything else is not allowed.
      if (rest.size() < 2 || rest.back() != ' ') return rejected();
      rest.remove_suffix(1);
    }
  }

  struct DatePart {
    std::string_view text;
    Order order;
    char separator;
  };
  static constexpr DatePart kDateParts[] = {
      {"YYYY-MM-dd", Order::kYearMonthDay, '-'},
      {"YYYY/MM/dd", Order::kYearMonthDay, '/'},
      {"MM/dd/YYYY", Order::kMonthDayYear, '/'},
      {"YYYYMMdd", Order::kYearMonthDay, '\0'},
  };
  bool date_ok = rest.empty();
  for (const DatePart& part : kDateParts) {
    if (rest == part.text) {
      layout.date_order = part.order;
      layout.date_separator = part.separator;
      date_ok = true;
    }
  }
  bool has_date = layout.date_order != Order::kNone;
  bool allowed =
      date_ok && (has_date || layout.has_time) && (layout.has_time || !layout.fraction_allowed);
  if (allowed) {
    switch (type) {
      case DmsType::kDateTime:
        allowed = has_date && layout.has_time;
        break;
      case DmsType::kDate:
        allowed = has_date;
        break;
      default:  // TIME: the time part alone, or a full pattern
        allowed = layout.has_time;
        break;
    }
  }
  if (!allowed) return rejected();
  return layout;
}

bool IsIntegerType(DmsType type) {
  switch (type) {
    case DmsType::kInt1:
    case DmsType::kInt2:
    case DmsType::kInt4:
    case DmsType::kInt8:
    case DmsType::kUint1:
    case DmsType::kUint2:
    case DmsType::kUint4:
    case DmsType::kUint8:
      return true;
    default:
      return false;
  }
}

bool IsNumberType(DmsType type) {
  return IsIntegerType(type) || type == DmsType::kNumeric || type == DmsType::kReal4 ||
         type == DmsType::kReal8;
}

}  // namespace opendms::engine
