// ColumnEncoder throughput per DMS type, and per row of the full-load benchmark's tables, single
// thread, binary COPY format (the full load's default), into one reused buffer.
//
//   build-*/bench/value_codec_bench --benchmark_min_time=1
//
// Values look like bench/gen_dataset.cc's: ids, NUMERIC(12,2) money, ISO dates, DATETIME with six
// fraction digits, short ASCII strings, true/false. The per-type cases report ns per value; the
// row cases ns per row (customers: 7 columns, events: 8 columns with a long text). Argument 0:
// Encode into a std::string; 1: EncodeTo into a CopyBuffer, as TableLoad::OnRow does.

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "engine/value_codec.h"

namespace opendms::engine {
namespace {

constexpr size_t kValues = 4096;

ColumnDefinition Col(DmsType type, bool nullable = true) {
  ColumnDefinition c;
  c.name = "c";
  c.type = type;
  c.nullable = nullable;
  return c;
}

ColumnDefinition Numeric12x2() {
  ColumnDefinition c = Col(DmsType::kNumeric);
  c.precision = 12;
  c.scale = 2;
  c.scale_given = true;
  return c;
}

ColumnDefinition Varchar64() {
  ColumnDefinition c = Col(DmsType::kString);
  c.length = 64;
  return c;
}

ColumnDefinition DateTime6() {
  ColumnDefinition c = Col(DmsType::kDateTime);
  c.scale = 6;
  c.scale_given = true;
  return c;
}

class Values {
 public:
  explicit Values(uint64_t seed) : rng_(seed) {}
  int64_t Uniform(int64_t lo, int64_t hi) {  // [lo, hi)
    return lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo));
  }
  std::string Int(int64_t lo, int64_t hi) { return std::to_string(Uniform(lo, hi)); }
  std::string Money(int64_t lo, int64_t hi) {
    const int64_t cents = Uniform(lo, hi);
    const int64_t a = cents < 0 ? -cents : cents;
    std::string s = cents < 0 ? "-" : "";
    s += std::to_string(a / 100);
    s += '.';
    s += static_cast<char>('0' + a % 100 / 10);
    s += static_cast<char>('0' + a % 10);
    return s;
  }
  std::string Date() {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", static_cast<int>(Uniform(2015, 2026)),
                  static_cast<int>(Uniform(1, 13)), static_cast<int>(Uniform(1, 29)));
    return buf;
  }
  std::string Timestamp() {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%s %02d:%02d:%02d.%06d", Date().c_str(),
                  static_cast<int>(Uniform(0, 24)), static_cast<int>(Uniform(0, 60)),
                  static_cast<int>(Uniform(0, 60)), static_cast<int>(Uniform(0, 1000000)));
    return buf;
  }
  std::string Words(int lo, int hi) {
    static const char* const kWords[] = {"alpha", "bravo", "charlie", "delta",  "echo", "foxtrot",
                                         "golf",  "hotel", "india",   "juliet", "kilo", "lima"};
    std::string s;
    for (int64_t n = Uniform(lo, hi); n > 0; --n) {
      if (!s.empty()) s += ' ';
      s += kWords[Uniform(0, 12)];
    }
    return s;
  }
  std::string Bool() { return Uniform(0, 2) ? "true" : "false"; }

 private:
  std::mt19937_64 rng_;
};

void EncodeValues(benchmark::State& state, const ColumnDefinition& column,
                  std::string (*make)(Values&)) {
  Values v(42);
  std::vector<std::string> values;
  for (size_t i = 0; i < kValues; ++i) values.push_back(make(v));
  ColumnEncoder encoder = ColumnEncoder::Make(column, CopyFormat::kBinary).value();
  if (state.range(0) == 1) {
    CopyBuffer out;
    for (auto _ : state) {
      out.clear();
      for (const std::string& value : values) {
        char* p = out.Reserve(encoder.MaxEncodedSize(value.size()));
        if (encoder.EncodeTo(value, false, p) != DataErrorKind::kNone) {
          state.SkipWithError("EncodeTo failed");
        }
        out.Commit(p);
      }
      benchmark::DoNotOptimize(out.view().data());
    }
  } else {
    std::string out;
    out.reserve(64 * kValues);
    for (auto _ : state) {
      out.clear();
      for (const std::string& value : values) {
        ValueIssue issue = encoder.Encode(value, false, out);
        if (!issue.ok()) state.SkipWithError(issue.message.c_str());
      }
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kValues));
}

void BM_EncodeInt4(benchmark::State& state) {
  EncodeValues(state, Col(DmsType::kInt4), [](Values& v) { return v.Int(1, 2000000); });
}
void BM_EncodeInt8(benchmark::State& state) {
  EncodeValues(state, Col(DmsType::kInt8), [](Values& v) { return v.Int(1, 10000000); });
}
void BM_EncodeNumeric12x2(benchmark::State& state) {
  EncodeValues(state, Numeric12x2(), [](Values& v) { return v.Money(-50000, 5000000); });
}
void BM_EncodeDate(benchmark::State& state) {
  EncodeValues(state, Col(DmsType::kDate), [](Values& v) { return v.Date(); });
}
void BM_EncodeDateTime6(benchmark::State& state) {
  EncodeValues(state, DateTime6(), [](Values& v) { return v.Timestamp(); });
}
void BM_EncodeVarchar64(benchmark::State& state) {
  EncodeValues(state, Varchar64(), [](Values& v) { return v.Words(1, 4); });
}
void BM_EncodeClob(benchmark::State& state) {
  EncodeValues(state, Col(DmsType::kClob), [](Values& v) { return v.Words(4, 14); });
}
void BM_EncodeBoolean(benchmark::State& state) {
  EncodeValues(state, Col(DmsType::kBoolean), [](Values& v) { return v.Bool(); });
}
void BM_EncodeReal8(benchmark::State& state) {
  EncodeValues(state, Col(DmsType::kReal8), [](Values& v) { return v.Money(0, 100000); });
}
BENCHMARK(BM_EncodeInt4)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeInt8)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeNumeric12x2)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeDate)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeDateTime6)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeVarchar64)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeClob)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeBoolean)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeReal8)->Arg(0)->Arg(1);

// Rows of one table: every field through CopyRowWriter and the column's encoder, as
// TableLoad::OnRow does.
struct Table {
  std::vector<ColumnDefinition> columns;
  std::vector<std::vector<std::string>> rows;  // "" = NULL
};

Table Customers() {
  Table t;
  t.columns = {Col(DmsType::kInt4, false), Varchar64(), Varchar64(),           Numeric12x2(),
               Col(DmsType::kDate),        DateTime6(), Col(DmsType::kBoolean)};
  Values v(7);
  for (size_t i = 0; i < kValues; ++i) {
    t.rows.push_back({std::to_string(i + 1), v.Words(2, 3), v.Words(1, 2) + "@example.com",
                      v.Money(-50000, 5000000), v.Date(), v.Uniform(0, 3) ? v.Timestamp() : "",
                      v.Bool()});
  }
  return t;
}

Table Events() {
  Table t;
  ColumnDefinition id = Col(DmsType::kInt8, false);
  t.columns = {id,
               Col(DmsType::kInt8),
               Varchar64(),
               Col(DmsType::kClob),
               Numeric12x2(),
               Col(DmsType::kDate),
               Col(DmsType::kBoolean),
               DateTime6()};
  Values v(9);
  for (size_t i = 0; i < kValues; ++i) {
    t.rows.push_back({std::to_string(i + 1), v.Int(1, 1000000), v.Words(1, 2), v.Words(4, 14),
                      v.Money(-100000, 100000), v.Date(), v.Bool(), v.Timestamp()});
  }
  return t;
}

void EncodeRows(benchmark::State& state, const Table& table) {
  std::vector<ColumnEncoder> encoders;
  for (const ColumnDefinition& c : table.columns) {
    encoders.push_back(ColumnEncoder::Make(c, CopyFormat::kBinary).value());
  }
  CopyRowWriter writer(CopyFormat::kBinary, static_cast<int>(encoders.size()));
  if (state.range(0) == 1) {
    CopyBuffer out;
    for (auto _ : state) {
      out.clear();
      for (const std::vector<std::string>& row : table.rows) {
        out.Commit(writer.BeginRow(out.Reserve(CopyRowWriter::kMaxFramingBytes)));
        for (size_t c = 0; c < encoders.size(); ++c) {
          const std::string& value = row[c];
          char* p = out.Reserve(CopyRowWriter::kMaxFramingBytes +
                                encoders[c].MaxEncodedSize(value.size()));
          p = writer.BeforeField(static_cast<int>(c), p);
          if (encoders[c].EncodeTo(value, value.empty(), p) != DataErrorKind::kNone) {
            state.SkipWithError("EncodeTo failed");
          }
          out.Commit(p);
        }
        out.Commit(writer.EndRow(out.Reserve(CopyRowWriter::kMaxFramingBytes)));
      }
      benchmark::DoNotOptimize(out.view().data());
    }
  } else {
    std::string out;
    out.reserve(256 * kValues);
    for (auto _ : state) {
      out.clear();
      for (const std::vector<std::string>& row : table.rows) {
        writer.BeginRow(out);
        for (size_t c = 0; c < encoders.size(); ++c) {
          writer.BeforeField(static_cast<int>(c), out);
          ValueIssue issue = encoders[c].Encode(row[c], row[c].empty(), out);
          if (!issue.ok()) state.SkipWithError(issue.message.c_str());
        }
        writer.EndRow(out);
      }
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kValues));
}

void BM_RowCustomers(benchmark::State& state) { EncodeRows(state, Customers()); }
void BM_RowEvents(benchmark::State& state) { EncodeRows(state, Events()); }
BENCHMARK(BM_RowCustomers)->Arg(0)->Arg(1);
BENCHMARK(BM_RowEvents)->Arg(0)->Arg(1);

}  // namespace
}  // namespace opendms::engine

BENCHMARK_MAIN();
