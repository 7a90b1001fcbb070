// gen_dataset: writes the deterministic data sets that bench/full_load and bench/cdc load, in the
// layout an AWS DMS S3 source reads.
//
//   <out>/<bucket>/<folder>/public/<table>/LOAD00000001.csv …   objects, no header, RFC 4180
//   <out>/<bucket>/<folder>/<cdc-path>/CDC00000001.csv …        the change stream, if asked
//   <out>/table_definitions.json   the DMS ExternalTableDefinition of the tables written
//   <out>/schema.sql               CREATE TABLE statements with the PostgreSQL types DMS maps to
//   <out>/manifest.json            every object's key, rows and bytes (what the harness reads)
//
// The five tables mirror /work/shared/bench/gen_data.py (the baseline in RESULTS.md): ints,
// bigints, NUMERIC(12,2), VARCHAR(64) with commas and doubled quotes inside quoted fields, a TEXT
// (CLOB) column, dates, timestamps with microseconds, booleans as true/false, a DOUBLE PRECISION
// column, and NULLs as unquoted empty fields in nullable columns. Rows average about 95 bytes.
//
// Every row is drawn from its own random stream seeded by (seed, table, primary key), so a row's
// bytes depend on nothing else: the output is the same whatever --jobs, --rows-per-file or
// --single-file is, and the content fingerprint of a load does not depend on how it was split.
//
// The change stream (--cdc-changes M) is in AWS DMS's S3-source CDC format: one change per line,
// `op,table_name,schema_name,col1,…,colN` (table BEFORE schema), op I/U/D or, with --cdc-op-words,
// INSERT/UPDATE/DELETE, the full row image for every op (the new image for I and U, the deleted
// image for D), values in TableColumns order, RFC 4180, NULL as an unquoted empty field. Inserts
// take new keys; updates and deletes hit live keys only, a quarter of them keys inserted recently,
// so that one object holds I→U→D chains on a key (as /work/shared/bench/gen_data.py). The choice of
// ops and keys comes from one sequential stream seeded by --seed, so the changes do not depend on
// --cdc-per-object, and the manifest records each table's row count after all changes.
//
//   gen_dataset --out DIR [--rows-per-table N] [--rows-per-file N | --single-file]
//   gen_dataset --out DIR --single-object-gb 2 [--table events]     (one object, for the RSS test)
//   gen_dataset --out DIR --rows-per-table N --cdc-changes M [--cdc-per-object K] [--cdc-op-words]

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>

#include "core/core.h"

namespace opendms::bench {
namespace {

// Bumped whenever the bytes written for a given set of flags change; the harness caches data
// sets by it.
constexpr int kFormatVersion = 1;

constexpr std::string_view kSchema = "public";

constexpr std::string_view kWords[] = {
    "alpha",  "bravo",  "charlie", "delta",  "echo",    "foxtrot",  "golf",    "hotel",
    "india",  "juliet", "kilo",    "lima",   "mike",    "november", "oscar",   "papa",
    "quebec", "romeo",  "sierra",  "tango",  "uniform", "victor",   "whiskey", "xray",
    "yankee", "zulu",   "widget",  "gadget", "deluxe",  "steel",    "oak",     "blue",
    "red",    "green",  "large",   "small",  "organic", "classic",  "north",   "south",
    "east",   "west",   "prime",   "basic",  "ultra",   "mini",     "max"};
constexpr std::string_view kFirstNames[] = {
    "Ann",  "Bob",  "Carla", "Dmitri", "Eve", "Fatima", "Gus",   "Hana",  "Ivan",
    "Jun",  "Kofi", "Lena",  "Mateo",  "Nia", "Omar",   "Pia",   "Quinn", "Rosa",
    "Sven", "Tara", "Uma",   "Vik",    "Wen", "Xiu",    "Yusuf", "Zoe"};
constexpr std::string_view kLastNames[] = {"Smith",  "Jones",  "O'Brien", "Garcia",   "Muller",
                                           "Rossi",  "Kim",    "Nguyen",  "Silva",    "Novak",
                                           "Cohen",  "Haddad", "Ito",     "Okafor",   "Petrov",
                                           "Dubois", "Larsen", "Moreau",  "Kowalski", "Santos"};
constexpr std::string_view kStatuses[] = {"new",       "paid",     "shipped",        "delivered",
                                          "cancelled", "returned", "on hold, review"};
constexpr std::string_view kKinds[] = {"login",     "logout", "purchase", "refund",
                                       "page_view", "click",  "error",    "signup"};

// Dates run from 2015-01-01 over kDateCount days (as gen_data.py).
constexpr int kDateCount = 4018;

// SplitMix64 (Steele, Lea, Flood 2014): tiny state, good enough statistics for test data, and
// cheap to seed once per row.
class RowRandom {
 public:
  RowRandom(uint64_t seed, int table_index, int64_t key)
      : state_(
            Mix(seed * 0x9E3779B97F4A7C15ULL + Mix((static_cast<uint64_t>(table_index + 1) << 40) ^
                                                   static_cast<uint64_t>(key)))) {}

  uint64_t Next() {
    state_ += 0x9E3779B97F4A7C15ULL;
    return Mix(state_);
  }
  // Uniform in [lo, hi) by multiply-shift (Lemire); the bias is below 2^-32 for our ranges.
  int64_t Uniform(int64_t lo, int64_t hi) {
    const auto span = static_cast<unsigned __int128>(hi - lo);
    return lo + static_cast<int64_t>((static_cast<unsigned __int128>(Next()) * span) >> 64);
  }
  // Uniform in [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // True with probability p.
  bool Chance(double p) { return Unit() < p; }
  template <size_t N>
  std::string_view Pick(const std::string_view (&list)[N]) {
    return list[Uniform(0, N)];
  }

 private:
  static uint64_t Mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

// "YYYY-MM-DD" for day n after 2015-01-01, rendered once.
const std::vector<std::string>& Dates() {
  static const std::vector<std::string> dates = [] {
    std::vector<std::string> out;
    out.reserve(kDateCount);
    constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = 2015, month = 1, day = 1;
    for (int i = 0; i < kDateCount; ++i) {
      out.push_back(fmt::format("{:04d}-{:02d}-{:02d}", year, month, day));
      const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
      const int month_days = kDaysInMonth[month - 1] + (month == 2 && leap ? 1 : 0);
      if (++day > month_days) {
        day = 1;
        if (++month > 12) {
          month = 1;
          ++year;
        }
      }
    }
    return out;
  }();
  return dates;
}

// Appends the fields of one CSV record to `out`: comma-separated, text quoted only when it holds
// a comma, a quote or a line break (quotes doubled), NULL as an unquoted empty field.
class CsvRecord {
 public:
  explicit CsvRecord(std::string& out) : out_(out) {}
  ~CsvRecord() { out_.push_back('\n'); }

  void Int(int64_t v) {
    Separate();
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
    out_.append(buf, end);
  }
  // Two fraction digits: NUMERIC(12,2).
  void Money(int64_t cents) {
    Separate();
    if (cents < 0) {
      out_.push_back('-');
      cents = -cents;
    }
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof(buf), cents / 100).ptr;
    out_.append(buf, end);
    out_.push_back('.');
    out_.push_back(static_cast<char>('0' + cents % 100 / 10));
    out_.push_back(static_cast<char>('0' + cents % 10));
  }
  // Thousandths with three fraction digits ("12.345"): a DOUBLE PRECISION value.
  void Milli(int64_t thousandths) {
    Separate();
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof(buf), thousandths / 1000).ptr;
    out_.append(buf, end);
    out_.push_back('.');
    const int frac = static_cast<int>(thousandths % 1000);
    out_.push_back(static_cast<char>('0' + frac / 100));
    out_.push_back(static_cast<char>('0' + frac / 10 % 10));
    out_.push_back(static_cast<char>('0' + frac % 10));
  }
  void Date(RowRandom& random) {
    Separate();
    out_.append(Dates()[random.Uniform(0, kDateCount)]);
  }
  // "YYYY-MM-DD HH:MM:SS.ffffff"
  void Timestamp(RowRandom& random) {
    Separate();
    const int64_t second = random.Uniform(0, 86400);
    const int64_t micros = random.Uniform(0, 1000000);
    out_.append(Dates()[random.Uniform(0, kDateCount)]);
    out_.push_back(' ');
    AppendDigits(second / 3600, 2);
    out_.push_back(':');
    AppendDigits(second / 60 % 60, 2);
    out_.push_back(':');
    AppendDigits(second % 60, 2);
    out_.push_back('.');
    AppendDigits(micros, 6);
  }
  void Bool(bool v) {
    Separate();
    out_.append(v ? "true" : "false");
  }
  void Null() { Separate(); }
  void Text(std::string_view v) {
    Separate();
    if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
      out_.append(v);
      return;
    }
    out_.push_back('"');
    for (char c : v) {
      if (c == '"') out_.push_back('"');
      out_.push_back(c);
    }
    out_.push_back('"');
  }

 private:
  // `value` (non-negative) in exactly `width` digits, zero-padded.
  void AppendDigits(int64_t value, int width) {
    char buf[20];
    for (int i = width - 1; i >= 0; --i) {
      buf[i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    out_.append(buf, width);
  }
  void Separate() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

void AppendPhrase(RowRandom& random, int words, std::string& out) {
  for (int i = 0; i < words; ++i) {
    if (i > 0) out.push_back(' ');
    out.append(random.Pick(kWords));
  }
}

std::string Capitalized(std::string_view word) {
  std::string s(word);
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

// VARCHAR(64) text: about 25% with a comma, 12% with double quotes, 5% with both.
std::string Title(RowRandom& random) {
  const double x = static_cast<double>(random.Uniform(0, 1 << 30)) / (1 << 30);
  std::string s;
  if (x < 0.12) {
    s = Capitalized(random.Pick(kWords));
    s += " \"";
    s += random.Pick(kWords);
    s += "\" ";
    s += random.Pick(kWords);
  } else if (x < 0.37) {
    s = Capitalized(random.Pick(kWords));
    s += ", ";
    s += random.Pick(kWords);
    s += ' ';
    s += std::to_string(random.Uniform(1, 64));
    s += "oz";
  } else {
    AppendPhrase(random, static_cast<int>(random.Uniform(2, 5)), s);
    s[0] = Capitalized(std::string_view(s).substr(0, 1))[0];
  }
  if (x < 0.05) s += ", size \"XL\"";
  if (s.size() > 64) s.resize(64);
  return s;
}

std::string Lower(std::string_view v) {
  std::string s;
  for (char c : v) {
    if (c == '\'') continue;
    s.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return s;
}

void CustomerRow(int64_t key, int64_t /*version*/, RowRandom& random, std::string& out) {
  CsvRecord r(out);
  r.Int(key);
  const std::string_view first = random.Pick(kFirstNames);
  const std::string_view last = random.Pick(kLastNames);
  std::string name = random.Chance(0.3) ? std::string(last) + ", " + std::string(first)
                                        : std::string(first) + " " + std::string(last);
  r.Text(name);
  r.Text(Lower(first) + "." + Lower(last) + std::to_string(key) + "@example.com");
  r.Money(random.Uniform(-50000, 5000000));
  r.Date(random);
  if (random.Chance(0.9)) {
    r.Timestamp(random);
  } else {
    r.Null();
  }
  r.Bool(random.Chance(0.8));
}

// The SKU carries the image's version, so an update always changes it (as gen_data.py).
void ProductRow(int64_t key, int64_t version, RowRandom& random, std::string& out) {
  CsvRecord r(out);
  r.Int(key);
  char sku[32];
  std::snprintf(sku, sizeof(sku), "SKU-%08lld-%lld", static_cast<long long>(key),
                static_cast<long long>(version));
  r.Text(sku);
  r.Text(Title(random));
  r.Money(random.Uniform(99, 250000));
  r.Int(random.Uniform(0, 100000));
  r.Milli(random.Uniform(1, 100000));
  r.Timestamp(random);
  r.Bool(random.Chance(0.05));
}

void OrderRow(int64_t key, int64_t /*version*/, RowRandom& random, std::string& out) {
  CsvRecord r(out);
  r.Int(key);
  r.Int(random.Uniform(1, 2000000));
  r.Text(random.Pick(kStatuses));
  r.Money(random.Uniform(100, 10000000));
  r.Date(random);
  r.Timestamp(random);
  r.Bool(random.Chance(0.7));
}

void OrderItemRow(int64_t key, int64_t /*version*/, RowRandom& random, std::string& out) {
  CsvRecord r(out);
  r.Int(key);
  r.Int(random.Uniform(1, 2000000) * 4 + 7);
  r.Int(random.Uniform(1, 2000000));
  r.Int(random.Uniform(1, 20));
  r.Money(random.Uniform(99, 100000));
  if (random.Chance(0.4)) {
    r.Text(Title(random));
  } else {
    r.Null();
  }
  if (random.Chance(0.75)) {
    r.Timestamp(random);
  } else {
    r.Null();
  }
}

void EventRow(int64_t key, int64_t /*version*/, RowRandom& random, std::string& out) {
  CsvRecord r(out);
  r.Int(key);
  r.Int(random.Uniform(1, 1000000000000LL));
  const std::string_view kind = random.Pick(kKinds);
  r.Text(kind);
  std::string message(kind);
  message += " from ";
  message += random.Pick(kFirstNames);
  message += ": ";
  AppendPhrase(random, static_cast<int>(random.Uniform(4, 14)), message);
  if (random.Chance(0.2)) {
    message += ", detail=\"";
    message += random.Pick(kWords);
    message += ", ";
    message += random.Pick(kWords);
    message += '"';
  }
  r.Text(message);
  r.Money(random.Uniform(-100000, 100000));
  r.Date(random);
  r.Bool(random.Chance(0.95));
  r.Timestamp(random);
}

// One column as the ExternalTableDefinition describes it.
struct Column {
  std::string_view name;
  std::string_view dms_type;  // INT4, INT8, NUMERIC, STRING, CLOB, DATE, DATETIME, BOOLEAN, REAL8
  int length = 0;             // STRING
  int precision = 0;          // NUMERIC
  int scale = 0;              // NUMERIC; DATETIME fraction digits
  bool nullable = false;
  bool is_pk = false;
};

struct Table {
  std::string_view name;
  std::vector<Column> columns;
  // Appends one record: image `version` of row `key` (see WriteRowImage).
  void (*write_row)(int64_t key, int64_t version, RowRandom& random, std::string& out);
};

Column Pk(std::string_view name, std::string_view type) {
  return {.name = name, .dms_type = type, .is_pk = true};
}
Column Plain(std::string_view name, std::string_view type, bool nullable = false) {
  return {.name = name, .dms_type = type, .nullable = nullable};
}
Column Varchar64(std::string_view name, bool nullable = false) {
  return {.name = name, .dms_type = "STRING", .length = 64, .nullable = nullable};
}
Column Numeric12x2(std::string_view name) {
  return {.name = name, .dms_type = "NUMERIC", .precision = 12, .scale = 2};
}
// Microseconds: DMS truncates fractions beyond ColumnScale, whose default is 0.
Column Timestamp6(std::string_view name, bool nullable = false) {
  return {.name = name, .dms_type = "DATETIME", .scale = 6, .nullable = nullable};
}

const std::vector<Table>& Tables() {
  static const std::vector<Table> tables = {
      {"customers",
       {Pk("id", "INT4"), Varchar64("name"), Varchar64("email"), Numeric12x2("balance"),
        Plain("signup_date", "DATE"), Timestamp6("last_login", true), Plain("active", "BOOLEAN")},
       CustomerRow},
      {"products",
       {Pk("id", "INT4"), Varchar64("sku"), Varchar64("title"), Numeric12x2("price"),
        Plain("stock", "INT4"), Plain("weight_kg", "REAL8"), Timestamp6("updated_at"),
        Plain("discontinued", "BOOLEAN")},
       ProductRow},
      {"orders",
       {Pk("id", "INT8"), Plain("customer_id", "INT4"), Varchar64("status"), Numeric12x2("total"),
        Plain("order_date", "DATE"), Timestamp6("created_at"), Plain("paid", "BOOLEAN")},
       OrderRow},
      {"order_items",
       {Pk("id", "INT8"), Plain("order_id", "INT8"), Plain("product_id", "INT4"),
        Plain("qty", "INT4"), Numeric12x2("unit_price"), Varchar64("note", true),
        Timestamp6("shipped_at", true)},
       OrderItemRow},
      {"events",
       {Pk("id", "INT8"), Plain("account_id", "INT8"), Varchar64("kind"), Plain("message", "CLOB"),
        Numeric12x2("amount"), Plain("event_date", "DATE"), Plain("ok", "BOOLEAN"),
        Timestamp6("created_at")},
       EventRow},
  };
  return tables;
}

// The PostgreSQL type DMS creates for `column` (dms-semantics.md §5.3).
std::string PostgresType(const Column& column) {
  const std::string_view t = column.dms_type;
  if (t == "INT4") return "INTEGER";
  if (t == "INT8") return "BIGINT";
  if (t == "NUMERIC") return fmt::format("NUMERIC({},{})", column.precision, column.scale);
  if (t == "STRING") return fmt::format("VARCHAR({})", column.length);
  if (t == "CLOB") return "TEXT";
  if (t == "DATE") return "DATE";
  if (t == "DATETIME") return "TIMESTAMP";
  if (t == "BOOLEAN") return "BOOLEAN";
  if (t == "REAL8") return "DOUBLE PRECISION";
  return "TEXT";  // not reached: Tables() uses only the types above
}

std::string SchemaSql(const std::vector<const Table*>& tables) {
  std::string out;
  for (const Table* table : tables) {
    out += fmt::format("CREATE TABLE \"{}\".\"{}\" (\n", kSchema, table->name);
    std::vector<std::string> pk;
    for (const Column& c : table->columns) {
      out +=
          fmt::format("  \"{}\" {}{},\n", c.name, PostgresType(c), c.nullable ? "" : " NOT NULL");
      if (c.is_pk) pk.push_back(fmt::format("\"{}\"", c.name));
    }
    out += fmt::format("  PRIMARY KEY ({})\n);\n", fmt::join(pk, ", "));
  }
  return out;
}

// Numbers and booleans as JSON strings, as AWS's own samples write them.
Json TableDefinitions(const std::vector<const Table*>& tables) {
  Json list = Json::array();
  for (const Table* table : tables) {
    Json columns = Json::array();
    for (const Column& c : table->columns) {
      Json column = {{"ColumnName", c.name}, {"ColumnType", c.dms_type}};
      if (c.dms_type == "STRING") column["ColumnLength"] = std::to_string(c.length);
      if (c.dms_type == "NUMERIC") column["ColumnPrecision"] = std::to_string(c.precision);
      if (c.dms_type == "NUMERIC" || c.dms_type == "DATETIME") {
        column["ColumnScale"] = std::to_string(c.scale);
      }
      column["ColumnNullable"] = c.nullable ? "true" : "false";
      column["ColumnIsPk"] = c.is_pk ? "true" : "false";
      columns.push_back(std::move(column));
    }
    list.push_back({{"TableName", table->name},
                    {"TablePath", fmt::format("{}/{}/", kSchema, table->name)},
                    {"TableOwner", kSchema},
                    {"TableColumns", std::move(columns)},
                    {"TableColumnsTotal", std::to_string(table->columns.size())}});
  }
  return {{"TableCount", std::to_string(tables.size())}, {"Tables", std::move(list)}};
}

// Appends image `version` of row `key` as one CSV record. Version 0 is the row the full load
// writes, and also the image an insert of a new key writes; version v > 0 is the image change
// number v (an update) writes. Each image has its own random stream, so it depends on nothing else.
void WriteRowImage(uint64_t seed, const Table& table, int table_index, int64_t key, int64_t version,
                   std::string& out) {
  const uint64_t image_seed =
      version == 0 ? seed : seed + static_cast<uint64_t>(version) * 0xD1B54A32D192ED03ULL;
  RowRandom random(image_seed, table_index, key);
  table.write_row(key, version, random, out);
}

// One object to write: rows [first_key, first_key + rows) of a table, or, when rows is 0, rows
// from first_key on until the object holds at least min_bytes.
struct ObjectTask {
  const Table* table = nullptr;
  int table_index = 0;
  std::string key;  // object key inside the bucket
  std::filesystem::path path;
  int64_t first_key = 1;
  int64_t rows = 0;
  int64_t min_bytes = 0;
  // Filled in by WriteObject.
  int64_t rows_written = 0;
  int64_t bytes_written = 0;
};

// Writes to "<path>.tmp" and renames, so an interrupted run never leaves a short object under the
// final name.
Status WriteObject(uint64_t seed, ObjectTask& task) {
  constexpr size_t kFlushBytes = 1 << 20;
  const std::string tmp = task.path.string() + ".tmp";
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (file == nullptr) return Status::FromErrno("open " + tmp, errno);
  std::string buffer;
  buffer.reserve(kFlushBytes + 4096);
  int64_t rows = 0, bytes = 0;
  auto flush = [&]() -> Status {
    if (!buffer.empty() && std::fwrite(buffer.data(), 1, buffer.size(), file) != buffer.size()) {
      return Status::FromErrno("write " + tmp, errno);
    }
    bytes += static_cast<int64_t>(buffer.size());
    buffer.clear();
    return Status::Ok();
  };
  Status status;
  for (int64_t key = task.first_key;; ++key) {
    if (task.rows > 0 ? rows >= task.rows
                      : bytes + static_cast<int64_t>(buffer.size()) >= task.min_bytes) {
      break;
    }
    WriteRowImage(seed, *task.table, task.table_index, key, 0, buffer);
    ++rows;
    if (buffer.size() >= kFlushBytes) {
      status = flush();
      if (!status.ok()) break;
    }
  }
  if (status.ok()) status = flush();
  if (std::fclose(file) != 0 && status.ok()) status = Status::FromErrno("close " + tmp, errno);
  if (!status.ok()) return status;
  std::error_code ec;
  std::filesystem::rename(tmp, task.path, ec);
  if (ec) return Status::IoError("rename " + tmp + ": " + ec.message());
  task.rows_written = rows;
  task.bytes_written = bytes;
  return Status::Ok();
}

Status WriteTextFile(const std::filesystem::path& path, std::string_view text) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return Status::FromErrno("open " + path.string(), errno);
  const bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  const int err = errno;
  if (std::fclose(file) != 0 || !written) return Status::FromErrno("write " + path.string(), err);
  return Status::Ok();
}

struct Options {
  std::string out;
  std::string bucket = "bench";
  std::string bucket_folder = "full-load";
  int64_t rows_per_table = 2'000'000;
  int64_t rows_per_file = 100'000;
  bool single_file = false;
  double single_object_gb = 0;
  std::string table = "events";
  std::string tables;  // comma-separated subset, empty = all
  uint64_t seed = 42;
  int jobs = 0;
  // The change stream: none when cdc_changes is 0.
  int64_t cdc_changes = 0;
  int64_t cdc_per_object = 10'000;
  std::string cdc_path = "cdc";      // CdcPath, inside the bucket folder
  std::string cdc_mix = "60,30,10";  // percent of inserts, updates, deletes
  bool cdc_op_words = false;         // INSERT/UPDATE/DELETE instead of I/U/D
};

// Where the change stream stands for one table while it is generated.
struct CdcTableState {
  static constexpr int64_t kDeleted = -1;
  int64_t max_key = 0;  // keys 1..max_key have existed (the base rows, then inserts)
  int64_t live = 0;
  // version[key - 1]: the version of the key's current image (WriteRowImage), or kDeleted.
  std::vector<int64_t> version;
  // Keys inserted lately, drawn by a quarter of the updates and deletes (deleted ones are redrawn).
  std::vector<int64_t> recent;
  int64_t inserts = 0, updates = 0, deletes = 0;
};

// Writes the change stream under <bucket>/<folder>/<cdc_path>/ over tables that hold keys
// 1..rows_per_table, and returns its manifest entry. Objects are written to "<path>.tmp" and
// renamed.
Result<Json> WriteChangeStream(const Options& options, const std::vector<const Table*>& tables,
                               const std::vector<int>& table_indexes) {
  namespace fs = std::filesystem;
  double mix[3] = {0, 0, 0};
  if (std::sscanf(options.cdc_mix.c_str(), "%lf,%lf,%lf", &mix[0], &mix[1], &mix[2]) != 3 ||
      mix[0] < 0 || mix[1] < 0 || mix[2] < 0 || mix[0] + mix[1] + mix[2] <= 0) {
    return Status::InvalidArgument("--cdc-mix wants three percentages, e.g. 60,30,10");
  }
  const double insert_below = mix[0] / (mix[0] + mix[1] + mix[2]);
  const double update_below = (mix[0] + mix[1]) / (mix[0] + mix[1] + mix[2]);

  const std::string dir =
      (options.bucket_folder.empty() ? std::string() : options.bucket_folder + "/") +
      options.cdc_path + "/";
  const fs::path bucket = fs::path(options.out) / options.bucket;
  std::error_code ec;
  fs::create_directories(bucket / dir, ec);
  if (ec) return Status::IoError("mkdir " + (bucket / dir).string() + ": " + ec.message());

  std::vector<CdcTableState> state(tables.size());
  for (CdcTableState& st : state) {
    st.max_key = st.live = options.rows_per_table;
    st.version.assign(static_cast<size_t>(options.rows_per_table), 0);
  }
  // One sequential stream chooses every op and key; table index 1000 keeps it apart from the rows'.
  RowRandom stream(options.seed, 1000, 0);
  const std::string_view op_names[3] = {options.cdc_op_words ? "INSERT" : "I",
                                        options.cdc_op_words ? "UPDATE" : "U",
                                        options.cdc_op_words ? "DELETE" : "D"};
  Json objects = Json::array();
  int64_t change = 0, total_bytes = 0, total_repeats = 0, total_chains = 0;
  std::string buffer;
  for (int64_t object = 0; change < options.cdc_changes; ++object) {
    const int64_t n = std::min(options.cdc_per_object, options.cdc_changes - change);
    int64_t counts[3] = {0, 0, 0};
    // Ops seen per (table, key) in this object (bits I=1, U=2, D=4): repeats are changes to a key
    // changed before in the same object, chains keys inserted, updated and deleted in it.
    std::unordered_map<uint64_t, int> seen;
    int64_t repeats = 0, chains = 0;
    buffer.clear();
    for (int64_t i = 0; i < n; ++i) {
      ++change;
      const size_t t = static_cast<size_t>(stream.Uniform(0, static_cast<int64_t>(tables.size())));
      CdcTableState& st = state[t];
      const double x = stream.Unit();
      int op;  // 0 insert, 1 update, 2 delete
      int64_t key;
      if (x < insert_below || st.live < 10) {
        op = 0;
        key = ++st.max_key;
        st.version.push_back(0);
        ++st.live;
        ++st.inserts;
        st.recent.push_back(key);
        if (st.recent.size() > 2000) st.recent.erase(st.recent.begin(), st.recent.begin() + 1000);
      } else {
        op = x < update_below ? 1 : 2;
        do {
          key = !st.recent.empty() && stream.Chance(0.25)
                    ? st.recent[stream.Uniform(0, static_cast<int64_t>(st.recent.size()))]
                    : stream.Uniform(1, st.max_key + 1);
        } while (st.version[key - 1] == CdcTableState::kDeleted);
        if (op == 1) {
          st.version[key - 1] = change;
          ++st.updates;
        } else {
          ++st.deletes;
          --st.live;
        }
      }
      ++counts[op];
      int& ops = seen[(static_cast<uint64_t>(t) << 56) | static_cast<uint64_t>(key)];
      if (ops != 0) ++repeats;
      ops |= 1 << op;
      if (ops == 7) ++chains;

      buffer.append(op_names[op]);
      buffer.push_back(',');
      buffer.append(tables[t]->name);
      buffer.push_back(',');
      buffer.append(kSchema);
      buffer.push_back(',');
      // An insert or update writes its new image, a delete the image it removes.
      WriteRowImage(options.seed, *tables[t], table_indexes[t], key, st.version[key - 1], buffer);
      if (op == 2) st.version[key - 1] = CdcTableState::kDeleted;
    }
    const std::string key = fmt::format("{}CDC{:08d}.csv", dir, object + 1);
    const fs::path path = bucket / key;
    const std::string tmp = path.string() + ".tmp";
    RETURN_IF_ERROR(WriteTextFile(tmp, buffer));
    fs::rename(tmp, path, ec);
    if (ec) return Status::IoError("rename " + tmp + ": " + ec.message());
    objects.push_back({{"key", key},
                       {"path", fs::relative(path, options.out).string()},
                       {"changes", n},
                       {"inserts", counts[0]},
                       {"updates", counts[1]},
                       {"deletes", counts[2]},
                       {"same_key_repeats", repeats},
                       {"iud_chains", chains},
                       {"bytes", static_cast<int64_t>(buffer.size())}});
    total_bytes += static_cast<int64_t>(buffer.size());
    total_repeats += repeats;
    total_chains += chains;
  }

  Json per_table = Json::object();
  int64_t ops[3] = {0, 0, 0};
  for (size_t t = 0; t < tables.size(); ++t) {
    const CdcTableState& st = state[t];
    per_table[std::string(tables[t]->name)] = {{"rows_before", options.rows_per_table},
                                               {"rows_after", st.live},
                                               {"inserts", st.inserts},
                                               {"updates", st.updates},
                                               {"deletes", st.deletes}};
    ops[0] += st.inserts;
    ops[1] += st.updates;
    ops[2] += st.deletes;
  }
  return Json{{"cdc_path", options.cdc_path},
              {"prefix", dir},
              {"op_words", options.cdc_op_words},
              {"mix", options.cdc_mix},
              {"per_object", options.cdc_per_object},
              {"changes", options.cdc_changes},
              {"bytes", total_bytes},
              {"ops", {{"I", ops[0]}, {"U", ops[1]}, {"D", ops[2]}}},
              {"same_key_repeats", total_repeats},
              {"iud_chains", total_chains},
              {"tables", std::move(per_table)},
              {"objects", std::move(objects)}};
}

Status Run(const Options& options) {
  namespace fs = std::filesystem;
  // Which tables.
  std::vector<const Table*> tables;
  std::vector<int> table_indexes;
  auto add_table = [&](std::string_view name) -> Status {
    for (size_t i = 0; i < Tables().size(); ++i) {
      if (Tables()[i].name == name) {
        tables.push_back(&Tables()[i]);
        table_indexes.push_back(static_cast<int>(i));
        return Status::Ok();
      }
    }
    return Status::InvalidArgument(fmt::format("unknown table '{}'", name));
  };
  if (options.single_object_gb > 0 && options.cdc_changes > 0) {
    return Status::InvalidArgument(
        "--cdc-changes needs tables of --rows-per-table rows, not one object");
  }
  if (options.single_object_gb > 0) {
    RETURN_IF_ERROR(add_table(options.table));
  } else if (options.tables.empty()) {
    for (const Table& t : Tables()) RETURN_IF_ERROR(add_table(t.name));
  } else {
    std::string_view rest = options.tables;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      RETURN_IF_ERROR(add_table(rest.substr(0, comma)));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }

  // Which objects, interleaved across tables so the workers finish together.
  const fs::path out(options.out);
  const std::string prefix =
      options.bucket_folder.empty() ? std::string() : options.bucket_folder + "/";
  std::vector<ObjectTask> tasks;
  std::vector<std::vector<ObjectTask>> per_table(tables.size());
  for (size_t t = 0; t < tables.size(); ++t) {
    const std::string dir = fmt::format("{}{}/{}/", prefix, kSchema, tables[t]->name);
    std::error_code ec;
    fs::create_directories(out / options.bucket / dir, ec);
    if (ec)
      return Status::IoError("mkdir " + (out / options.bucket / dir).string() + ": " +
                             ec.message());
    const int64_t per_file = options.single_object_gb > 0 || options.single_file
                                 ? options.rows_per_table
                                 : options.rows_per_file;
    const int64_t files =
        options.single_object_gb > 0 ? 1 : (options.rows_per_table + per_file - 1) / per_file;
    for (int64_t f = 0; f < files; ++f) {
      ObjectTask task;
      task.table = tables[t];
      task.table_index = table_indexes[t];
      task.key = fmt::format("{}LOAD{:08d}.csv", dir, f + 1);
      task.path = out / options.bucket / task.key;
      task.first_key = f * per_file + 1;
      if (options.single_object_gb > 0) {
        task.min_bytes = static_cast<int64_t>(std::ceil(options.single_object_gb * (1LL << 30)));
      } else {
        task.rows = std::min(per_file, options.rows_per_table - f * per_file);
      }
      per_table[t].push_back(std::move(task));
    }
  }
  for (size_t i = 0;; ++i) {
    bool any = false;
    for (auto& list : per_table) {
      if (i < list.size()) {
        tasks.push_back(std::move(list[i]));
        any = true;
      }
    }
    if (!any) break;
  }

  // Write them.
  const int jobs = std::max(
      1, options.jobs > 0 ? options.jobs : static_cast<int>(std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  std::vector<Status> errors(jobs);
  {
    std::vector<std::jthread> workers;
    for (int w = 0; w < jobs; ++w) {
      workers.emplace_back([&, w] {
        for (size_t i = next++; i < tasks.size(); i = next++) {
          Status st = WriteObject(options.seed, tasks[i]);
          if (!st.ok()) {
            errors[w] = st;
            next = tasks.size();
            return;
          }
        }
      });
    }
  }
  for (const Status& st : errors) RETURN_IF_ERROR(st);

  // Describe them.
  RETURN_IF_ERROR(WriteTextFile(out / "schema.sql", SchemaSql(tables)));
  RETURN_IF_ERROR(
      WriteTextFile(out / "table_definitions.json", TableDefinitions(tables).dump(2) + "\n"));
  Json manifest = {
      {"format_version", kFormatVersion},       {"seed", options.seed}, {"bucket", options.bucket},
      {"bucket_folder", options.bucket_folder}, {"schema", kSchema},    {"tables", Json::object()}};
  int64_t total_rows = 0, total_bytes = 0;
  for (const Table* table : tables) {
    Json files = Json::array();
    int64_t rows = 0, bytes = 0;
    for (const ObjectTask& task : tasks) {
      if (task.table != table) continue;
      files.push_back({{"key", task.key},
                       {"path", fs::relative(task.path, out).string()},
                       {"first_id", task.first_key},
                       {"rows", task.rows_written},
                       {"bytes", task.bytes_written}});
      rows += task.rows_written;
      bytes += task.bytes_written;
    }
    std::sort(files.begin(), files.end(),
              [](const Json& a, const Json& b) { return a["key"] < b["key"]; });
    manifest["tables"][std::string(table->name)] = {
        {"rows", rows}, {"bytes", bytes}, {"files", std::move(files)}};
    total_rows += rows;
    total_bytes += bytes;
  }
  manifest["total_rows"] = total_rows;
  manifest["total_bytes"] = total_bytes;
  if (options.cdc_changes > 0) {
    ASSIGN_OR_RETURN(manifest["cdc"], WriteChangeStream(options, tables, table_indexes));
  }
  RETURN_IF_ERROR(WriteTextFile(out / "manifest.json", manifest.dump(1) + "\n"));
  std::printf("gen_dataset: %lld rows, %.1f MB in %zu objects under %s\n",
              static_cast<long long>(total_rows), static_cast<double>(total_bytes) / 1e6,
              tasks.size(), (out / options.bucket).c_str());
  if (options.cdc_changes > 0) {
    const Json& cdc = manifest["cdc"];
    std::printf(
        "gen_dataset: %lld changes (I %lld, U %lld, D %lld), %.1f MB in %zu objects under %s\n",
        static_cast<long long>(options.cdc_changes),
        static_cast<long long>(cdc["ops"]["I"].get<int64_t>()),
        static_cast<long long>(cdc["ops"]["U"].get<int64_t>()),
        static_cast<long long>(cdc["ops"]["D"].get<int64_t>()),
        static_cast<double>(cdc["bytes"].get<int64_t>()) / 1e6, cdc["objects"].size(),
        (out / options.bucket / cdc["prefix"].get<std::string>()).c_str());
  }
  return Status::Ok();
}

}  // namespace
}  // namespace opendms::bench

int main(int argc, char** argv) {
  opendms::bench::Options options;
  CLI::App app{"Writes the deterministic full-load benchmark data set in DMS S3-source layout."};
  app.add_option("--out", options.out, "output folder (buckets are its sub-folders)")->required();
  app.add_option("--bucket", options.bucket, "bucket name")->capture_default_str();
  app.add_option("--bucket-folder", options.bucket_folder,
                 "BucketFolder inside the bucket (may be empty)")
      ->capture_default_str();
  app.add_option("--rows-per-table", options.rows_per_table, "rows in each table")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--rows-per-file", options.rows_per_file, "rows per object")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--single-file", options.single_file, "one object per table");
  app.add_option("--single-object-gb", options.single_object_gb,
                 "write ONE object of at least N GiB of --table (the RSS test)")
      ->check(CLI::PositiveNumber);
  app.add_option("--table", options.table, "table for --single-object-gb")->capture_default_str();
  app.add_option("--tables", options.tables, "comma-separated subset of tables (default all)");
  app.add_option("--seed", options.seed, "random seed")->capture_default_str();
  app.add_option("--jobs", options.jobs, "writer threads (default: cores)");
  app.add_option("--cdc-changes", options.cdc_changes,
                 "also write a change stream of N changes over the tables (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--cdc-per-object", options.cdc_per_object, "changes per CDC object")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--cdc-path", options.cdc_path, "CdcPath: the change objects' folder")
      ->capture_default_str();
  app.add_option("--cdc-mix", options.cdc_mix, "percent of inserts,updates,deletes")
      ->capture_default_str();
  app.add_flag("--cdc-op-words", options.cdc_op_words,
               "write INSERT/UPDATE/DELETE instead of I/U/D in the op column");
  CLI11_PARSE(app, argc, argv);
  opendms::Status status = opendms::bench::Run(options);
  if (!status.ok()) {
    std::fprintf(stderr, "gen_dataset: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
