// csv::Tokenizer throughput on ~64 MB of in-memory CSV, single thread, against two baselines on
// the same bytes: the memchr splitter of /work/shared/bench/csvscan.cpp (the reference speed) and
// a byte-at-a-time state machine.
//
//   build-*/bench/csv_tokenizer_bench --benchmark_min_time=2
//
// Data: rows like the benchmark tables (int, bigint, numeric, date, timestamp, varchar, text,
// boolean, NULLs), ~90 bytes each. "plain": no quoted fields. "quoted": 25% of fields quoted, with
// commas and doubled quotes inside.

#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "csv/csv.h"

namespace opendms::csv {
namespace {

constexpr size_t kTargetBytes = 64 << 20;

std::string MakeCsv(bool quoted, bool crlf) {
  std::mt19937_64 rng(42);
  auto pick = [&](uint64_t n) { return rng() % n; };
  const char* const words[] = {"alpha", "bravo", "charlie", "delta",  "echo", "foxtrot",
                               "golf",  "hotel", "india",   "juliet", "kilo", "lima"};
  std::string out;
  out.reserve(kTargetBytes + 256);
  std::string field;
  uint64_t id = 1;
  while (out.size() < kTargetBytes) {
    for (int column = 0; column < 9; ++column) {
      field.clear();
      switch (column) {
        case 0:
          field = std::to_string(id++);
          break;
        case 1:
          field = std::to_string(1000000000 + pick(900000000));
          break;
        case 2:
          field = std::to_string(pick(100000)) + "." + std::to_string(10 + pick(90));
          break;
        case 3:
          field = "2024-0" + std::to_string(1 + pick(9)) + "-1" + std::to_string(pick(10));
          break;
        case 4:
          field = "2024-03-1" + std::to_string(pick(10)) + " 12:3" + std::to_string(pick(10)) +
                  ":05." + std::to_string(100000 + pick(900000));
          break;
        case 5:
          field = std::string(words[pick(12)]) + "-" + std::to_string(pick(1000));
          break;
        case 6:
          if (pick(4) == 0) break;  // NULL
          for (uint64_t w = 1 + pick(4); w > 0; --w) {
            field += words[pick(12)];
            field += ' ';
          }
          break;
        case 7:
          field = pick(2) ? "t" : "f";
          break;
        case 8:
          field = pick(3) == 0 ? "" : std::to_string(pick(1000));
          break;
      }
      if (column) out += ',';
      if (quoted && pick(4) == 0) {
        // A quoted field with a comma and, half the time, doubled quotes.
        out += '"';
        out += field;
        out += ", ";
        if (pick(2)) out += "say \"\"hi\"\"";
        out += '"';
      } else {
        out += field;
      }
    }
    out += crlf ? "\r\n" : "\n";
  }
  return out;
}

const std::string& Data(bool quoted, bool crlf) {
  static const std::string plain = MakeCsv(false, false);
  static const std::string with_quotes = MakeCsv(true, false);
  static const std::string plain_crlf = MakeCsv(false, true);
  return crlf ? plain_crlf : quoted ? with_quotes : plain;
}

struct CountingSink {
  uint64_t rows = 0;
  uint64_t fields = 0;
  uint64_t value_bytes = 0;
  bool OnRow(std::span<const Field> row_fields, const RowInfo& row) {
    ++rows;
    fields += row_fields.size();
    for (const Field& f : row_fields) value_bytes += f.value.size();
    return true;
  }
};

void ReportCounts(benchmark::State& state, const std::string& data, uint64_t rows,
                  uint64_t fields) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(rows * state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.counters["fields/row"] = static_cast<double>(fields) / static_cast<double>(rows);
}

// The tokenizer as the engine uses it: a source copying the object into the tokenizer's buffer.
void BM_Tokenizer(benchmark::State& state, bool quoted, bool crlf) {
  const std::string& data = Data(quoted, crlf);
  Dialect dialect;
  dialect.row_delimiter = crlf ? RowDelimiter::kCrLf : RowDelimiter::kLf;
  Tokenizer tokenizer(dialect, TokenizerOptions{});
  CountingSink sink;
  for (auto _ : state) {
    sink = CountingSink{};
    size_t pos = 0;
    auto source = [&](char* dst, size_t capacity) -> Result<size_t> {
      const size_t n = std::min(capacity, data.size() - pos);
      std::memcpy(dst, data.data() + pos, n);
      pos += n;
      return n;
    };
    if (!tokenizer.Run(source, sink)) state.SkipWithError(tokenizer.error().message.c_str());
    benchmark::DoNotOptimize(sink.value_bytes);
  }
  ReportCounts(state, data, sink.rows, sink.fields);
}
BENCHMARK_CAPTURE(BM_Tokenizer, plain, false, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Tokenizer, quoted25, true, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Tokenizer, plain_crlf, false, true)->Unit(benchmark::kMillisecond);

// Only the copy the tokenizer's source does (object bytes into a 1 MiB buffer): the part of
// BM_Tokenizer that is reading, not tokenizing.
void BM_SourceCopyOnly(benchmark::State& state) {
  const std::string& data = Data(false, false);
  std::vector<char> buffer(TokenizerOptions{}.buffer_size);
  for (auto _ : state) {
    for (size_t pos = 0; pos < data.size(); pos += buffer.size()) {
      std::memcpy(buffer.data(), data.data() + pos, std::min(buffer.size(), data.size() - pos));
      benchmark::ClobberMemory();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_SourceCopyOnly)->Unit(benchmark::kMillisecond);

// csvscan.cpp's memchr splitter over the whole buffer (no copy, no field list): the reference.
void BM_MemchrSplitterReference(benchmark::State& state, bool quoted) {
  const std::string& data = Data(quoted, false);
  uint64_t rows = 0;
  uint64_t fields = 0;
  for (auto _ : state) {
    rows = fields = 0;
    uint64_t check = 0;
    const char* p = data.data();
    const char* const end = p + data.size();
    while (p < end) {
      const char* eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (!eol) eol = end;
      for (;;) {
        if (p < eol && *p == '"') {
          const char* q = p + 1;
          for (;;) {
            q = static_cast<const char*>(std::memchr(q, '"', end - q));
            if (q + 1 < end && q[1] == '"') {
              q += 2;
              continue;
            }
            break;
          }
          check += q - p;
          p = q + 1;
          if (p > eol) {
            eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
            if (!eol) eol = end;
          }
          ++fields;
          if (p >= eol) break;
          ++p;
          continue;
        }
        const char* comma = static_cast<const char*>(std::memchr(p, ',', eol - p));
        ++fields;
        if (!comma) {
          check += eol - p;
          break;
        }
        check += comma - p;
        p = comma + 1;
      }
      ++rows;
      p = eol + 1;
    }
    benchmark::DoNotOptimize(check);
  }
  ReportCounts(state, data, rows, fields);
}
BENCHMARK_CAPTURE(BM_MemchrSplitterReference, plain, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MemchrSplitterReference, quoted25, true)->Unit(benchmark::kMillisecond);

// The classic byte-at-a-time state machine (csvscan --naive): what the skipping buys.
void BM_ByteAtATimeBaseline(benchmark::State& state, bool quoted) {
  const std::string& data = Data(quoted, false);
  uint64_t rows = 0;
  uint64_t fields = 0;
  for (auto _ : state) {
    rows = fields = 0;
    uint64_t check = 0;
    bool in_quotes = false;
    const char* p = data.data();
    const char* const end = p + data.size();
    const char* field_start = p;
    for (; p < end; ++p) {
      const char c = *p;
      if (in_quotes) {
        if (c == '"') {
          if (p + 1 < end && p[1] == '"') {
            ++p;
          } else {
            in_quotes = false;
          }
        }
      } else if (c == '"') {
        in_quotes = true;
      } else if (c == ',') {
        ++fields;
        check += p - field_start;
        field_start = p + 1;
      } else if (c == '\n') {
        ++fields;
        ++rows;
        check += p - field_start;
        field_start = p + 1;
      }
    }
    benchmark::DoNotOptimize(check);
  }
  ReportCounts(state, data, rows, fields);
}
BENCHMARK_CAPTURE(BM_ByteAtATimeBaseline, plain, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ByteAtATimeBaseline, quoted25, true)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace opendms::csv

BENCHMARK_MAIN();
