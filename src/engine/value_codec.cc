// The value codec: DMS-typed CSV fields → PostgreSQL COPY bytes (binary or text format).
//
// Binary formats written here are PostgreSQL's *_send formats (src/backend/utils/adt/*.c):
//   int2/int4/int8   big-endian two's complement
//   float4/float8    big-endian IEEE 754
//   bool             one byte, 0 or 1
//   numeric          int16 ndigits, int16 weight, int16 sign (0x0000 +, 0x4000 −, 0xC000 NaN),
//                    int16 dscale, then ndigits base-10000 digits, most significant first; the
//                    value is Σ digit[i] × 10000^(weight − i)
//   date             int32 days since 2000-01-01
//   time             int64 microseconds since midnight
//   timestamp        int64 microseconds since 2000-01-01 00:00:00
//   text/varchar     the UTF-8 bytes; bytea the raw bytes
// Each field is preceded by its int32 byte length, −1 for NULL.
//
// In text format every value is written in a canonical form this file produces (ISO dates, plain
// decimals rounded to the column's scale), never as the source text, so that both formats load
// the same value whatever the server's DateStyle, and a ColumnDateFormat like MM/dd/YYYY needs no
// server-side interpretation.
#include "engine/value_codec.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

#include "pg/pg.h"

namespace opendms::engine {
namespace {

// ---------------------------------------------------------------------------------------------
// Byte helpers
// ---------------------------------------------------------------------------------------------

inline void PutBE16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
inline void PutBE32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}
inline void PutBE64(char* p, uint64_t v) {
  PutBE32(p, static_cast<uint32_t>(v >> 32));
  PutBE32(p + 4, static_cast<uint32_t>(v));
}

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

inline char ToLowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != lower[i]) return false;
  }
  return true;
}

// The value as messages show it: at most 64 bytes, "…" after a cut.
std::string Shown(std::string_view text) {
  constexpr size_t kMaxShown = 64;
  if (text.size() <= kMaxShown) return std::string(text);
  return std::string(text.substr(0, kMaxShown)) + "…";
}

std::string Quoted(std::string_view text) { return "'" + Shown(text) + "'"; }

// ---------------------------------------------------------------------------------------------
// Calendar (proleptic Gregorian, as PostgreSQL's)
// ---------------------------------------------------------------------------------------------

// Days from 1970-01-01 to y-m-d (H. Hinnant's days_from_civil).
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct CivilDate {
  int64_t year;
  unsigned month, day;
};

constexpr CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

constexpr int64_t kPostgresEpochDays = DaysFromCivil(2000, 1, 1);  // 10957
constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kSecondsPerDay = 86400;
static_assert(kPostgresEpochDays == 10957);

inline bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

inline int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Exactly `n` ASCII digits at p[0..n).
inline bool ReadDigits(const char* p, int n, int* value) {
  int v = 0;
  for (int i = 0; i < n; ++i) {
    if (!IsDigit(p[i])) return false;
    v = v * 10 + (p[i] - '0');
  }
  *value = v;
  return true;
}

inline char* WriteDigits(char* p, int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return p + width;
}

// "YYYY-MM-DD" (a year past 9999, reachable only by rounding up 9999-12-31 23:59:59.9…, gets
// five digits, which PostgreSQL reads).
char* WriteDate(char* p, int64_t days_since_1970) {
  CivilDate c = CivilFromDays(days_since_1970);
  p = WriteDigits(p, c.year, c.year > 9999 ? 5 : 4);
  *p++ = '-';
  p = WriteDigits(p, c.month, 2);
  *p++ = '-';
  return WriteDigits(p, c.day, 2);
}

// "HH:MM:SS" and, when digits > 0, "." and that many fraction digits of `nanos`.
char* WriteTime(char* p, int64_t second_of_day, uint32_t nanos, int digits) {
  p = WriteDigits(p, second_of_day / 3600, 2);
  *p++ = ':';
  p = WriteDigits(p, second_of_day / 60 % 60, 2);
  *p++ = ':';
  p = WriteDigits(p, second_of_day % 60, 2);
  if (digits > 0) {
    *p++ = '.';
    int64_t fraction = nanos;
    for (int i = digits; i < 9; ++i) fraction /= 10;
    p = WriteDigits(p, fraction, digits);
  }
  return p;
}

constexpr uint32_t kPowersOf10[] = {1,      10,      100,      1000,      10000,
                                    100000, 1000000, 10000000, 100000000, 1000000000};

// A parsed DATE/TIME/DATETIME. Fields a layout lacks stay at their defaults.
struct ParsedDateTime {
  int year = 2000, month = 1, day = 1;
  int hour = 0, minute = 0, second = 0;
  uint32_t nanos = 0;  // fraction of the second, 0..999,999,999
};

enum class DateTimeParse { kOk, kSyntax, kNoSuchDate, kNoSuchTime };

// The 8 bytes at p read as one little-endian word: byte i of the result is p[i].
inline uint64_t Load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

// Matches the 8 bytes at p against `pattern` (a Load8 of 8 bytes): where byte i of `digit_mask`
// is 0xFF, p[i] must be an ASCII digit (the pattern has '0' there), elsewhere it must equal the
// pattern's byte. On a match, byte i of *digits is p[i]'s digit value, or 0 for a separator.
inline bool MatchDigits8(const char* p, uint64_t pattern, uint64_t digit_mask, uint64_t* digits) {
  const uint64_t x = Load8(p) ^ pattern;  // a digit under a '0' becomes 0–9, a matching byte 0
  if ((x & ~digit_mask) != 0) return false;
  // Every byte ≤ 9 now passes: x + 0x76 stays below 0x80, without carries (x < 0x80).
  if ((((x + 0x7676767676767676ULL) | x) & 0x8080808080808080ULL) != 0) return false;
  *digits = x;
  return true;
}

// Byte i of the result is 10 × (byte i) + (byte i+1) of a MatchDigits8 result: two-digit
// numbers, without carries between bytes (≤ 99).
inline uint64_t PairDigits(uint64_t digits) { return digits * 10 + (digits >> 8); }

constexpr uint64_t kDateDigitMask = 0x00FFFF00FFFFFFFFULL;  // "0000-00-"
constexpr uint64_t kTimeDigitMask = 0xFFFF00FFFF00FFFFULL;  // "00:00:00"

DateTimeParse ParseDateTime(std::string_view text, const DateTimeLayout& layout,
                            ParsedDateTime* v) {
  using Order = DateTimeLayout::DateOrder;
  const char* p = text.data();
  const char* end = p + text.size();
  if (layout.date_order != Order::kNone) {
    const char sep = layout.date_separator;
    const size_t date_len = sep == '\0' ? 8 : 10;
    if (text.size() < date_len) return DateTimeParse::kSyntax;
    if (layout.date_order == Order::kYearMonthDay && sep != '\0') {
      // "YYYY-MM-" in one word (the separator put in place of '-'), then "DD".
      const uint64_t other_sep = static_cast<uint8_t>('-' ^ sep);
      const uint64_t pattern = Load8("0000-00-") ^ other_sep << 32 ^ other_sep << 56;
      uint64_t digits;
      if (!MatchDigits8(p, pattern, kDateDigitMask, &digits) || !ReadDigits(p + 8, 2, &v->day)) {
        return DateTimeParse::kSyntax;
      }
      const uint64_t pairs = PairDigits(digits);
      v->year = static_cast<int>((pairs & 0xFF) * 100 + (pairs >> 16 & 0xFF));
      v->month = static_cast<int>(pairs >> 40 & 0xFF);
    } else if (layout.date_order == Order::kYearMonthDay) {  // YYYYMMdd
      if (!ReadDigits(p, 4, &v->year) || !ReadDigits(p + 4, 2, &v->month) ||
          !ReadDigits(p + 6, 2, &v->day)) {
        return DateTimeParse::kSyntax;
      }
    } else {  // MM/dd/YYYY
      if (!ReadDigits(p, 2, &v->month) || p[2] != sep || !ReadDigits(p + 3, 2, &v->day) ||
          p[5] != sep || !ReadDigits(p + 6, 4, &v->year)) {
        return DateTimeParse::kSyntax;
      }
    }
    p += date_len;
    if (layout.has_time) {
      if (p == end && layout.time_optional) {
        // A date alone: midnight.
      } else if (p < end && (*p == ' ' || (*p == 'T' && layout.t_separator))) {
        ++p;
      } else {
        return DateTimeParse::kSyntax;
      }
    }
  }
  if (layout.has_time && p < end) {
    uint64_t digits;
    if (end - p < 8 || !MatchDigits8(p, Load8("00:00:00"), kTimeDigitMask, &digits)) {
      return DateTimeParse::kSyntax;
    }
    const uint64_t pairs = PairDigits(digits);
    v->hour = static_cast<int>(pairs & 0xFF);
    v->minute = static_cast<int>(pairs >> 24 & 0xFF);
    v->second = static_cast<int>(pairs >> 48 & 0xFF);
    p += 8;
    if (p < end && *p == '.' && layout.fraction_allowed) {
      ++p;
      int digits = 0;
      uint32_t nanos = 0;
      while (p < end && IsDigit(*p)) {
        if (++digits > 9) return DateTimeParse::kSyntax;
        nanos = nanos * 10 + static_cast<uint32_t>(*p - '0');
        ++p;
      }
      if (digits == 0) return DateTimeParse::kSyntax;
      v->nanos = nanos * kPowersOf10[9 - digits];
    }
  }
  if (p != end) return DateTimeParse::kSyntax;
  if (layout.date_order != Order::kNone) {
    if (v->year < 1 || v->month < 1 || v->month > 12 || v->day < 1 ||
        v->day > DaysInMonth(v->year, v->month)) {
      return DateTimeParse::kNoSuchDate;
    }
  }
  if (v->hour > 23 || v->minute > 59 || v->second > 59) return DateTimeParse::kNoSuchTime;
  return DateTimeParse::kOk;
}

inline int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// A fraction of a second (nanoseconds, from at most 9 digits) in microseconds, the way
// PostgreSQL's ParseFractionalSecond computes it: rint(strtod(".f…") * 1e6). strtod's result is
// the double nearest to nanos / 1e9, which is what the division below gives too; rint rounds
// half to even. May return 1,000,000 (carry into the seconds).
inline int64_t MicrosLikePostgres(uint32_t nanos) {
  if (nanos % 1000 == 0) return nanos / 1000;  // ≤ 6 digits: exact
  return static_cast<int64_t>(std::nearbyint(static_cast<double>(nanos) / 1e9 * 1e6));
}

// `nanos` rounded half up to `digits` fraction digits; may return 1,000,000,000 (carry).
inline uint32_t RoundNanos(uint32_t nanos, int digits) {
  const uint32_t unit = kPowersOf10[9 - digits];
  return (nanos + unit / 2) / unit * unit;
}

// ---------------------------------------------------------------------------------------------
// Decimal text (NUMERIC)
// ---------------------------------------------------------------------------------------------

// value = (negative ? −1 : 1) × 0.d[0]d[1]…d[n−1] × 10^point, d[0] ≠ 0 unless n == 0 (zero).
struct Decimal {
  // More significant digits than any in-range NUMERIC(38,s) can use: a value needing digit
  // index ≥ kMaxDigits for rounding has point > kMaxDigits − 38 > 38 ≥ p − s integral digits,
  // i.e. it is out of range whatever the dropped digits were.
  static constexpr int kMaxDigits = 80;
  uint8_t d[kMaxDigits];
  int n = 0;
  int64_t point = 0;
  bool negative = false;
};

enum class DecimalParse { kOk, kSyntax, kNaN, kInfinity };

DecimalParse ParseDecimal(std::string_view text, Decimal* dec) {
  const char* p = text.data();
  const char* end = p + text.size();
  if (p < end && (*p == '+' || *p == '-')) {
    dec->negative = *p == '-';
    ++p;
  }
  std::string_view word(p, static_cast<size_t>(end - p));
  if (EqualsIgnoreCase(word, "nan")) {
    return p == text.data() ? DecimalParse::kNaN : DecimalParse::kSyntax;
  }
  if (EqualsIgnoreCase(word, "infinity") || EqualsIgnoreCase(word, "inf")) {
    return DecimalParse::kInfinity;
  }
  int digits_seen = 0;
  for (; p < end && IsDigit(*p); ++p, ++digits_seen) {
    uint8_t digit = static_cast<uint8_t>(*p - '0');
    if (dec->n == 0 && digit == 0) continue;  // leading zero
    if (dec->n < Decimal::kMaxDigits) dec->d[dec->n++] = digit;
    ++dec->point;
  }
  if (p < end && *p == '.') {
    for (++p; p < end && IsDigit(*p); ++p, ++digits_seen) {
      uint8_t digit = static_cast<uint8_t>(*p - '0');
      if (dec->n == 0 && digit == 0) {
        --dec->point;  // a zero right after the point moves the first significant digit
        continue;
      }
      if (dec->n < Decimal::kMaxDigits) dec->d[dec->n++] = digit;
    }
  }
  if (digits_seen == 0) return DecimalParse::kSyntax;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool exp_negative = false;
    if (p < end && (*p == '+' || *p == '-')) {
      exp_negative = *p == '-';
      ++p;
    }
    if (p == end) return DecimalParse::kSyntax;
    int64_t exponent = 0;
    for (; p < end && IsDigit(*p); ++p) {
      // Saturate: 10^±1,000,000 is out of range or zero for any NUMERIC(p,s) anyway.
      if (exponent < 1000000) exponent = exponent * 10 + (*p - '0');
    }
    dec->point += exp_negative ? -exponent : exponent;
  }
  if (p != end) return DecimalParse::kSyntax;
  if (dec->n == 0) {
    dec->point = 0;
    dec->negative = false;
  }
  return DecimalParse::kOk;
}

// Rounds half away from zero to `scale` fraction digits (PostgreSQL's round_var), then strips
// trailing zeros. Zero becomes positive.
void RoundDecimal(Decimal* dec, int scale) {
  const int64_t keep = dec->point + scale;  // digits left of the rounding position
  if (dec->n > keep) {
    if (keep < 0) {
      dec->n = 0;
    } else {
      const bool round_up = dec->d[keep] >= 5;
      dec->n = static_cast<int>(keep);
      if (round_up) {
        int i = dec->n - 1;
        while (i >= 0 && dec->d[i] == 9) dec->d[i--] = 0;
        if (i >= 0) {
          ++dec->d[i];
        } else {  // 9…9 + 1, or nothing kept: 1 × 10^point
          dec->d[0] = 1;
          dec->n = 1;
          ++dec->point;
        }
      }
    }
  }
  while (dec->n > 0 && dec->d[dec->n - 1] == 0) --dec->n;
  if (dec->n == 0) {
    dec->point = 0;
    dec->negative = false;
  }
}

inline int64_t FloorDiv4(int64_t x) { return x >= 0 ? x / 4 : -((-x + 3) / 4); }

// numeric_send's layout of a rounded, in-range Decimal (so n ≤ 38), with its length; at most
// 4 + 8 + 2 × 11 bytes.
char* WriteBinaryNumeric(const Decimal& dec, int scale, char* out) {
  uint16_t groups[16] = {};
  int ndigits = 0;
  int64_t weight = 0;
  if (dec.n > 0) {
    // Digit i stands for 10^e, e = point − 1 − i; it belongs to base-10000 group ⌊e/4⌋.
    weight = FloorDiv4(dec.point - 1);
    const int64_t last = FloorDiv4(dec.point - dec.n);
    ndigits = static_cast<int>(weight - last + 1);
    for (int i = 0; i < dec.n; ++i) {
      const int64_t e = dec.point - 1 - i;
      const int64_t group = FloorDiv4(e);
      groups[weight - group] += static_cast<uint16_t>(dec.d[i] * kPowersOf10[e - group * 4]);
    }
  }
  PutBE32(out, static_cast<uint32_t>(8 + 2 * ndigits));
  PutBE16(out + 4, static_cast<uint16_t>(ndigits));
  PutBE16(out + 6, static_cast<uint16_t>(static_cast<int16_t>(weight)));
  PutBE16(out + 8, dec.negative ? 0x4000 : 0x0000);
  PutBE16(out + 10, static_cast<uint16_t>(scale));
  for (int i = 0; i < ndigits; ++i) PutBE16(out + 12 + 2 * i, groups[i]);
  return out + 12 + 2 * ndigits;
}

// "-123.40" with exactly `scale` fraction digits; at most 1 + 38 + 1 + 38 bytes.
char* WriteTextNumeric(const Decimal& dec, int scale, char* p) {
  if (dec.negative) *p++ = '-';
  if (dec.point <= 0) {
    *p++ = '0';
  } else {
    for (int64_t i = 0; i < dec.point; ++i)
      *p++ = i < dec.n ? static_cast<char>('0' + dec.d[i]) : '0';
  }
  if (scale > 0) {
    *p++ = '.';
    for (int j = 0; j < scale; ++j) {
      const int64_t i = dec.point + j;
      *p++ = (i >= 0 && i < dec.n) ? static_cast<char>('0' + dec.d[i]) : '0';
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Plain decimals: NUMERIC's fast path, straight from the digits
// ---------------------------------------------------------------------------------------------

constexpr uint64_t kPowersOf10U64[] = {1,
                                       10,
                                       100,
                                       1000,
                                       10000,
                                       100000,
                                       1000000,
                                       10000000,
                                       100000000,
                                       1000000000,
                                       10000000000,
                                       100000000000,
                                       1000000000000,
                                       10000000000000,
                                       100000000000000,
                                       1000000000000000,
                                       10000000000000000};

// A NUMERIC input in its common form, `[+|-]digits[.digits]` (no exponent, no words), with no
// more fraction digits than the scale (so nothing to round) and in range.
struct PlainDecimal {
  bool negative = false;    // as written; a zero is written without sign
  bool zero = true;         // every digit is 0
  const char* integer;      // the integer digits after leading zeros…
  int integer_digits = 0;   // …this many (0: the integer part is 0)
  const char* fraction;     // the fraction digits as written…
  int fraction_digits = 0;  // …this many (≤ scale)
  // The integer digits and the fraction digits as numbers; meaningful only for ≤ 19 digits.
  uint64_t integer_value = 0;
  uint64_t fraction_value = 0;
};

// False for any other input, or one out of range for NUMERIC(precision, scale): the general
// path (ParseDecimal) handles those and says what is wrong. Accepts exactly what ParseDecimal
// reads as kOk with the same value.
inline bool ReadPlainDecimal(std::string_view text, int precision, int scale, PlainDecimal* d) {
  const char* p = text.data();
  const char* const end = p + text.size();
  if (p < end && (*p == '+' || *p == '-')) {
    d->negative = *p == '-';
    ++p;
  }
  const char* const digits = p;
  while (p < end && *p == '0') ++p;
  d->integer = p;
  uint64_t v = 0;  // unsigned: more than 19 digits wrap, harmlessly (the value is then unused)
  for (; p < end && IsDigit(*p); ++p) v = v * 10 + static_cast<unsigned>(*p - '0');
  d->integer_value = v;
  d->integer_digits = static_cast<int>(p - d->integer);
  d->fraction = p;
  if (p < end && *p == '.') {
    d->fraction = ++p;
    v = 0;
    for (; p < end && IsDigit(*p); ++p) v = v * 10 + static_cast<unsigned>(*p - '0');
    d->fraction_value = v;
    d->fraction_digits = static_cast<int>(p - d->fraction);
  }
  d->zero = d->integer_digits == 0 &&
            (d->fraction_digits <= 19 ? d->fraction_value == 0
                                      : std::all_of(d->fraction, d->fraction + d->fraction_digits,
                                                    [](char c) { return c == '0'; }));
  return p == end && (d->integer_digits > 0 || d->fraction_digits > 0 || d->integer > digits) &&
         d->fraction_digits <= scale && d->integer_digits <= precision - scale;
}

inline uint16_t GroupOf(const char* p, int n) {
  uint16_t v = 0;
  for (int i = 0; i < n; ++i) v = static_cast<uint16_t>(v * 10 + (p[i] - '0'));
  return v;
}

// numeric_send's layout of a PlainDecimal, with its length: the same bytes as
// WriteBinaryNumeric(Decimal) for the same value. Digits go into base-10000 groups aligned on the
// decimal point, without arithmetic on the whole value.
char* WriteBinaryNumeric(const PlainDecimal& d, int scale, char* out) {
  if (d.integer_digits <= 16 && d.fraction_digits <= 16) {
    // Both parts in 64 bits: four base-10000 groups each, by division by constants, and the
    // zero groups at both ends found from a bit mask, without a loop over digits or groups.
    constexpr uint64_t k4 = 10000, k8 = k4 * k4, k12 = k8 * k4;
    const uint64_t i = d.integer_value;
    const uint64_t f = d.fraction_value * kPowersOf10U64[16 - d.fraction_digits];
    uint16_t groups[16] = {static_cast<uint16_t>(i / k12),     static_cast<uint16_t>(i / k8 % k4),
                           static_cast<uint16_t>(i / k4 % k4), static_cast<uint16_t>(i % k4),
                           static_cast<uint16_t>(f / k12),     static_cast<uint16_t>(f / k8 % k4),
                           static_cast<uint16_t>(f / k4 % k4), static_cast<uint16_t>(f % k4)};
    unsigned nonzero = 0;  // bit g: groups[g] is not 0
    for (int g = 0; g < 8; ++g) nonzero |= (groups[g] != 0 ? 1u : 0u) << g;
    const int first = nonzero == 0 ? 0 : std::countr_zero(nonzero);
    const int ndigits = nonzero == 0 ? 0 : 32 - std::countl_zero(nonzero) - first;
    const int weight = ndigits == 0 ? 0 : 3 - first;  // groups[0] stands for 10000^3
    PutBE32(out, static_cast<uint32_t>(8 + 2 * ndigits));
    PutBE16(out + 4, static_cast<uint16_t>(ndigits));
    PutBE16(out + 6, static_cast<uint16_t>(static_cast<int16_t>(weight)));
    PutBE16(out + 8, d.negative && ndigits > 0 ? 0x4000 : 0x0000);
    PutBE16(out + 10, static_cast<uint16_t>(scale));
    // All 8 slots from `first` (zeros past the last group): room for them is reserved, and only
    // ndigits count.
    for (int g = 0; g < 8; ++g) PutBE16(out + 12 + 2 * g, groups[first + g]);
    return out + 12 + 2 * ndigits;
  }
  uint16_t groups[20];  // ≤ 38 integer digits: 10 groups; ≤ 38 fraction digits: 10 groups
  int n = 0;
  const int integer_groups = (d.integer_digits + 3) / 4;
  if (integer_groups > 0) {
    const int head = d.integer_digits - 4 * (integer_groups - 1);  // 1–4 digits
    groups[n++] = GroupOf(d.integer, head);
    for (const char* q = d.integer + head; q < d.integer + d.integer_digits; q += 4) {
      groups[n++] = GroupOf(q, 4);
    }
  }
  for (int i = 0; i < d.fraction_digits; i += 4) {
    const int len = std::min(4, d.fraction_digits - i);
    groups[n++] = static_cast<uint16_t>(GroupOf(d.fraction + i, len) * kPowersOf10[4 - len]);
  }
  // Zero groups at both ends are left out; the weight is that of the first group kept.
  int first = 0;
  while (first < n && groups[first] == 0) ++first;
  int last = n;
  while (last > first && groups[last - 1] == 0) --last;
  const int ndigits = last - first;
  const int weight = ndigits == 0 ? 0 : integer_groups - 1 - first;
  PutBE32(out, static_cast<uint32_t>(8 + 2 * ndigits));
  PutBE16(out + 4, static_cast<uint16_t>(ndigits));
  PutBE16(out + 6, static_cast<uint16_t>(static_cast<int16_t>(weight)));
  PutBE16(out + 8, d.negative && ndigits > 0 ? 0x4000 : 0x0000);
  PutBE16(out + 10, static_cast<uint16_t>(scale));
  for (int i = 0; i < ndigits; ++i) PutBE16(out + 12 + 2 * i, groups[first + i]);
  return out + 12 + 2 * ndigits;
}

// The same value as WriteTextNumeric(Decimal) writes it.
char* WriteTextNumeric(const PlainDecimal& d, int scale, char* p) {
  if (d.negative && !d.zero) *p++ = '-';
  if (d.integer_digits == 0) {
    *p++ = '0';
  } else {
    std::memcpy(p, d.integer, static_cast<size_t>(d.integer_digits));
    p += d.integer_digits;
  }
  if (scale > 0) {
    *p++ = '.';
    std::memcpy(p, d.fraction, static_cast<size_t>(d.fraction_digits));
    std::memset(p + d.fraction_digits, '0', static_cast<size_t>(scale - d.fraction_digits));
    p += scale;
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// UTF-8
// ---------------------------------------------------------------------------------------------

constexpr uint64_t kHighBits = 0x8080808080808080ULL;
constexpr uint64_t kLowBits = 0x0101010101010101ULL;

// True if some byte of w is zero (the classic SWAR test).
inline bool HasZeroByte(uint64_t w) { return ((w - kLowBits) & ~w & kHighBits) != 0; }
inline bool HasByte(uint64_t w, uint8_t b) { return HasZeroByte(w ^ (kLowBits * b)); }

// Bytes that text-format COPY must escape (or, for NUL, replace): \0 \t \n \r and backslash.
inline bool NeedsTextEscape(uint8_t c) {
  return c == 0 || c == '\t' || c == '\n' || c == '\r' || c == '\\';
}

// The length of the valid UTF-8 sequence at s[0..avail), or 0 if there is none (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
// Whether the n bytes at s are ASCII without NUL and, when kEscapes, without a byte text-format
// COPY escapes: then a value is written as its bytes. Word at a time; reads only [s, s + n).
template <bool kEscapes>
inline bool IsPlainAscii(const char* s, size_t n) {
  auto plain = [](uint64_t w) {
    if ((w & kHighBits) != 0 || HasZeroByte(w)) return false;
    if constexpr (kEscapes) {
      return !HasByte(w, '\\') && !HasByte(w, '\t') && !HasByte(w, '\n') && !HasByte(w, '\r');
    }
    return true;
  };
  uint64_t w;
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 < n; i += 8) {
      std::memcpy(&w, s + i, 8);
      if (!plain(w)) return false;
    }
    std::memcpy(&w, s + n - 8, 8);  // the last 8 bytes, overlapping the previous word
    return plain(w);
  }
  if (n >= 4) {  // the first and last 4 bytes, overlapping
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    return plain(uint64_t{a} << 32 | b);
  }
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x80 || c == 0 || (kEscapes && NeedsTextEscape(c))) return false;
  }
  return true;
}

// memcpy of n bytes, with the short sizes of most fields done inline by overlapping moves.
inline void CopyBytes(char* out, const char* s, size_t n) {
  if (n > 16) {
    std::memcpy(out, s, n);
  } else if (n >= 8) {
    std::memcpy(out, s, 8);
    std::memcpy(out + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(out, s, 4);
    std::memcpy(out + n - 4, s + n - 4, 4);
  } else if (n > 0) {
    out[0] = s[0];
    out[n / 2] = s[n / 2];
    out[n - 1] = s[n - 1];
  }
}

inline int Utf8SequenceLength(const uint8_t* s, size_t avail) {
  const uint8_t c = s[0];
  auto cont = [&](size_t i, uint8_t lo = 0x80, uint8_t hi = 0xBF) {
    return i < avail && s[i] >= lo && s[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The longest text format of a REAL4 or REAL8 (std::to_chars' shortest form is ≤ 24 bytes).
constexpr size_t kFloatTextBytes = 40;

constexpr int64_t kMaxVarcharLength = 21845;
constexpr int64_t kCappedVarcharLength = 65535;

}  // namespace

std::string_view DataErrorKindName(DataErrorKind kind) {
  switch (kind) {
    case DataErrorKind::kNone:
      return "NONE";
    case DataErrorKind::kFieldCount:
      return "FIELD_COUNT";
    case DataErrorKind::kUnterminatedQuote:
      return "UNTERMINATED_QUOTE";
    case DataErrorKind::kInvalidQuoting:
      return "INVALID_QUOTING";
    case DataErrorKind::kRowTooLong:
      return "ROW_TOO_LONG";
    case DataErrorKind::kInvalidValue:
      return "INVALID_VALUE";
    case DataErrorKind::kOutOfRange:
      return "OUT_OF_RANGE";
    case DataErrorKind::kTruncation:
      return "TRUNCATION";
    case DataErrorKind::kNullNotAllowed:
      return "NULL_NOT_ALLOWED";
    case DataErrorKind::kInvalidUtf8:
      return "INVALID_UTF8";
  }
  return "UNKNOWN";
}

// ---------------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------------

// One conversion per Kind, each a template specialised for the CopyFormat, so that the work per
// field branches on neither: Make picks the function once. They write at `out` (which has room
// for MaxEncodedSize bytes) and build a message only when asked (`message` not null), which the
// hot loop never does.
struct ColumnEncoder::Codecs {
  using R = EncodeResult;
  static constexpr CopyFormat kBinary = CopyFormat::kBinary;
  static constexpr CopyFormat kText = CopyFormat::kText;

  static R Ok(char* end) { return {end, DataErrorKind::kNone}; }

  // "'<text>' is not a valid <TYPE>[ (<detail><detail2>)]", kInvalidValue.
  static R Invalid(const ColumnEncoder& e, std::string_view text, char* out, std::string* message,
                   std::string_view detail = {}, std::string_view detail2 = {}) {
    if (message) {
      *message = Quoted(text) + " is not a valid " + e.type_label_;
      if (!detail.empty()) {
        *message += " (";
        message->append(detail);
        message->append(detail2);
        *message += ')';
      }
    }
    return {out, DataErrorKind::kInvalidValue};
  }

  // "value <text> out of range for <TYPE><detail>", kOutOfRange.
  static R OutOfRange(const ColumnEncoder& e, std::string_view text, char* out,
                      std::string* message, std::string_view detail = {}) {
    if (message) {
      *message = "value " + Shown(text) + " out of range for " + e.type_label_;
      message->append(detail);
    }
    return {out, DataErrorKind::kOutOfRange};
  }

  template <CopyFormat F>
  static R Null(const ColumnEncoder& e, char* out, std::string* message) {
    if (!e.column_.nullable) {
      if (message) *message = "NULL in a NOT NULL column (ColumnNullable is false)";
      return {out, DataErrorKind::kNullNotAllowed};
    }
    if constexpr (F == kBinary) {
      PutBE32(out, static_cast<uint32_t>(-1));
      return Ok(out + 4);
    } else {
      out[0] = '\\';
      out[1] = 'N';
      return Ok(out + 2);
    }
  }

  // Optional sign, then decimal digits only: no spaces, no fraction, no exponent.
  template <CopyFormat F, Kind K>
  static R Integer(const ColumnEncoder& e, std::string_view text, bool is_null, char* out,
                   std::string* message) {
    if (is_null || text.empty()) return Null<F>(e, out, message);
    const char* p = text.data();
    const char* const end = p + text.size();
    if (*p == '+') {
      ++p;
      if (p < end && *p == '-') return Invalid(e, text, out, message);  // from_chars takes "+-1"
    }
    int64_t value = 0;
    const bool negative = p < end && *p == '-';
    const char* const digits = p + (negative ? 1 : 0);
    if (end - digits >= 1 && end - digits <= 18) {
      // Up to 18 digits cannot overflow: read here, as from_chars would.
      uint64_t v = 0;
      for (const char* q = digits; q < end; ++q) {
        const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(*q)) - '0';
        if (d > 9) return Invalid(e, text, out, message);
        v = v * 10 + d;
      }
      value = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
    } else {
      auto [ptr, ec] = std::from_chars(p, end, value);
      if (ptr != end || p == end) return Invalid(e, text, out, message);
      if (ec == std::errc::result_out_of_range) return IntegerOutOfRange(e, text, out, message);
      if (ec != std::errc()) return Invalid(e, text, out, message);
    }
    if (value < e.min_ || value > e.max_) return IntegerOutOfRange(e, text, out, message);

    if constexpr (F == kText) {
      return Ok(std::to_chars(out, out + 20, value).ptr);
    } else if constexpr (K == Kind::kInt16) {
      PutBE32(out, 2);
      PutBE16(out + 4, static_cast<uint16_t>(value));
      return Ok(out + 6);
    } else if constexpr (K == Kind::kInt32) {
      PutBE32(out, 4);
      PutBE32(out + 4, static_cast<uint32_t>(value));
      return Ok(out + 8);
    } else {
      PutBE32(out, 8);
      PutBE64(out + 4, static_cast<uint64_t>(value));
      return Ok(out + 12);
    }
  }

  static R IntegerOutOfRange(const ColumnEncoder& e, std::string_view text, char* out,
                             std::string* message) {
    if (!message) return {out, DataErrorKind::kOutOfRange};
    return OutOfRange(e, text, out, message,
                      " (" + std::to_string(e.min_) + ".." + std::to_string(e.max_) + ")");
  }

  template <CopyFormat F>
  static R Numeric(const ColumnEncoder& e, std::string_view text, bool is_null, char* out,
                   std::string* message) {
    if (is_null || text.empty()) return Null<F>(e, out, message);
    const int scale = e.fraction_digits_;
    PlainDecimal plain;
    if (ReadPlainDecimal(text, e.column_.precision, scale, &plain)) {
      return Ok(F == kBinary ? WriteBinaryNumeric(plain, scale, out)
                             : WriteTextNumeric(plain, scale, out));
    }
    Decimal dec;
    switch (ParseDecimal(text, &dec)) {
      case DecimalParse::kSyntax:
        return Invalid(e, text, out, message);
      case DecimalParse::kInfinity:
        return OutOfRange(e, text, out, message,
                          " (a NUMERIC with precision cannot hold an infinite value)");
      case DecimalParse::kNaN:
        if constexpr (F == kText) {
          std::memcpy(out, "NaN", 3);
          return Ok(out + 3);
        } else {
          PutBE32(out, 8);
          PutBE16(out + 4, 0);
          PutBE16(out + 6, 0);
          PutBE16(out + 8, 0xC000);
          PutBE16(out + 10, 0);
          return Ok(out + 12);
        }
      case DecimalParse::kOk:
        break;
    }
    RoundDecimal(&dec, scale);
    if (dec.n > 0 && dec.point > e.column_.precision - scale) {
      if (!message) return {out, DataErrorKind::kOutOfRange};
      return OutOfRange(e, text, out, message,
                        " (at most " + std::to_string(e.column_.precision - scale) +
                            " digits before the decimal point)");
    }
    return Ok(F == kBinary ? WriteBinaryNumeric(dec, scale, out)
                           : WriteTextNumeric(dec, scale, out));
  }

  // std::from_chars: decimal or scientific, "inf", "infinity", "nan" in any case; a leading '+'
  // is accepted here as well. No spaces.
  template <CopyFormat F, Kind K>
  static R Float(const ColumnEncoder& e, std::string_view text, bool is_null, char* out,
                 std::string* message) {
    if (is_null || text.empty()) return Null<F>(e, out, message);
    const char* p = text.data();
    const char* end = p + text.size();
    if (*p == '+') {
      ++p;
      if (p < end && *p == '-') return Invalid(e, text, out, message);
    }
    double value8 = 0;
    float value4 = 0;
    std::from_chars_result r;
    if constexpr (K == Kind::kFloat4) {
      r = std::from_chars(p, end, value4);
      value8 = value4;
    } else {
      r = std::from_chars(p, end, value8);
    }
    if (r.ptr != end || p == end) return Invalid(e, text, out, message);
    if (r.ec == std::errc::result_out_of_range) return OutOfRange(e, text, out, message);
    if (r.ec != std::errc()) return Invalid(e, text, out, message);

    if constexpr (F == kText) {
      if (std::isnan(value8)) {
        std::memcpy(out, "NaN", 3);
        return Ok(out + 3);
      }
      if (std::isinf(value8)) {
        const std::string_view word = value8 < 0 ? "-Infinity" : "Infinity";
        std::memcpy(out, word.data(), word.size());
        return Ok(out + word.size());
      }
      return Ok(K == Kind::kFloat4 ? std::to_chars(out, out + kFloatTextBytes, value4).ptr
                                   : std::to_chars(out, out + kFloatTextBytes, value8).ptr);
    } else if constexpr (K == Kind::kFloat4) {
      uint32_t bits;
      std::memcpy(&bits, &value4, 4);
      PutBE32(out, 4);
      PutBE32(out + 4, bits);
      return Ok(out + 8);
    } else {
      uint64_t bits;
      std::memcpy(&bits, &value8, 8);
      PutBE32(out, 8);
      PutBE64(out + 4, bits);
      return Ok(out + 12);
    }
  }

  // PostgreSQL's boolin (parse_bool_with_len): true/false, yes/no, on/off, 1/0,
  // case-insensitive, and any unique prefix of those words ("t", "tr", "fal", "y", "of"; not
  // "o"). Unlike boolin, surrounding spaces are not trimmed.
  template <CopyFormat F>
  static R Boolean(const ColumnEncoder& e, std::string_view text, bool is_null, char* out,
                   std::string* message) {
    if (is_null || text.empty()) return Null<F>(e, out, message);
    auto is_prefix_of = [&text](std::string_view word, size_t min_length) {
      if (text.size() < min_length || text.size() > word.size()) return false;
      for (size_t i = 0; i < text.size(); ++i) {
        if (ToLowerAscii(text[i]) != word[i]) return false;
      }
      return true;
    };
    int value = -1;
    if (is_prefix_of("true", 1) || is_prefix_of("yes", 1) || is_prefix_of("on", 2) || text == "1") {
      value = 1;
    } else if (is_prefix_of("false", 1) || is_prefix_of("no", 1) || is_prefix_of("off", 2) ||
               text == "0") {
      value = 0;
    }
    if (value < 0) {
      return Invalid(e, text, out, message, "expected true/false, t/f, yes/no, y/n, on/off or 1/0");
    }
    if constexpr (F == kText) {
      *out = value ? 't' : 'f';
      return Ok(out + 1);
    } else {
      PutBE32(out, 1);
      out[4] = static_cast<char>(value);
      return Ok(out + 5);
    }
  }

  template <CopyFormat F, Kind K>
  static R DateTime(const ColumnEncoder& e, std::string_view text, bool is_null, char* out,
                    std::string* message) {
    if (is_null || text.empty()) return Null<F>(e, out, message);
    ParsedDateTime v;
    switch (ParseDateTime(text, e.layout_, &v)) {
      case DateTimeParse::kSyntax:
        return Invalid(e, text, out, message, "expected ", e.expected_form_);
      case DateTimeParse::kNoSuchDate:
        return Invalid(e, text, out, message, "no such date");
      case DateTimeParse::kNoSuchTime:
        return Invalid(e, text, out, message, "no such time of day");
      case DateTimeParse::kOk:
        break;
    }
    const int64_t days = DaysFromCivil(v.year, static_cast<unsigned>(v.month),
                                       static_cast<unsigned>(v.day));  // since 1970-01-01
    const int64_t second_of_day = v.hour * 3600 + v.minute * 60 + v.second;

    if constexpr (K == Kind::kDate) {
      if constexpr (F == kText) return Ok(WriteDate(out, days));
      PutBE32(out, 4);
      PutBE32(out + 4, static_cast<uint32_t>(static_cast<int32_t>(days - kPostgresEpochDays)));
      return Ok(out + 8);
    } else if constexpr (K == Kind::kDateTimeText) {
      // VARCHAR(37): the canonical text with exactly `scale` (7–9) fraction digits; extra digits
      // are rounded half up, a carry moving into the seconds (and on to the next day).
      const int digits = e.fraction_digits_;
      const uint32_t nanos = RoundNanos(v.nanos, digits);
      const int64_t seconds = days * kSecondsPerDay + second_of_day + nanos / 1000000000;
      const int64_t day = FloorDiv(seconds, kSecondsPerDay);
      char* const text_start = F == kBinary ? out + 4 : out;
      char* p = WriteDate(text_start, day);
      *p++ = ' ';
      p = WriteTime(p, seconds - day * kSecondsPerDay, nanos % 1000000000, digits);
      if constexpr (F == kBinary) PutBE32(out, static_cast<uint32_t>(p - text_start));
      return Ok(p);
    } else {
      // TIME and TIMESTAMP hold microseconds. Rounding follows PostgreSQL's own input functions
      // exactly, so that binary COPY loads what text COPY of the same field would:
      //  1. the fraction becomes microseconds as ParseFractionalSecond does it: rint(strtod(".f…")
      //     × 1e6) in double arithmetic, i.e. half to even (only matters past 6 digits);
      //  2. TIMESTAMP(p), p < 6, then rounds half away from zero *from 2000-01-01*
      //     (AdjustTimestampForTypmod): before 2000 a half rounds towards the past.
      const int64_t micros_of_day = second_of_day * kMicrosPerSecond + MicrosLikePostgres(v.nanos);
      const int digits = e.fraction_digits_;
      if constexpr (K == Kind::kTime) {
        // 23:59:59.9999999 becomes 24:00:00, which PostgreSQL's TIME holds too.
        if constexpr (F == kText) {
          return Ok(WriteTime(out, micros_of_day / kMicrosPerSecond,
                              static_cast<uint32_t>(micros_of_day % kMicrosPerSecond) * 1000,
                              digits));
        }
        PutBE32(out, 8);
        PutBE64(out + 4, static_cast<uint64_t>(micros_of_day));
        return Ok(out + 12);
      } else {
        // kTimestamp: microseconds since 2000-01-01 00:00:00.
        int64_t micros =
            (days - kPostgresEpochDays) * kSecondsPerDay * kMicrosPerSecond + micros_of_day;
        if (digits < 6) {
          const int64_t unit = kPowersOf10[6 - digits];
          micros = micros >= 0 ? (micros + unit / 2) / unit * unit
                               : -((-micros + unit / 2) / unit * unit);
        }
        if constexpr (F == kText) {
          constexpr int64_t kMicrosPerDay = kSecondsPerDay * kMicrosPerSecond;
          const int64_t day = FloorDiv(micros, kMicrosPerDay);
          const int64_t rest = micros - day * kMicrosPerDay;
          char* p = WriteDate(out, day + kPostgresEpochDays);
          *p++ = ' ';
          return Ok(WriteTime(p, rest / kMicrosPerSecond,
                              static_cast<uint32_t>(rest % kMicrosPerSecond) * 1000, digits));
        }
        PutBE32(out, 8);
        PutBE64(out + 4, static_cast<uint64_t>(micros));
        return Ok(out + 12);
      }
    }
  }

  // Valid UTF-8 only; NUL becomes a space (as DMS does for PostgreSQL, which cannot store NUL);
  // more characters than the column holds → the first max_length_ characters and kTruncation.
  // An empty field is an empty string, NULL only when `is_null`.
  template <CopyFormat F>
  static R Text(const ColumnEncoder& e, std::string_view text, bool is_null, char* out,
                std::string* message) {
    if (is_null) return Null<F>(e, out, message);
    constexpr bool kTextFormat = F == kText;
    const size_t n = text.size();
    const int64_t limit = e.max_length_;
    // The common case: short enough to need no cut (a character is at least a byte), and plain
    // ASCII, so the value is its bytes.
    if ((limit == 0 || n <= static_cast<uint64_t>(limit)) &&
        IsPlainAscii<kTextFormat>(text.data(), n)) {
      if constexpr (!kTextFormat) {
        PutBE32(out, static_cast<uint32_t>(n));
        out += 4;
      }
      CopyBytes(out, text.data(), n);
      return Ok(out + n);
    }
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    size_t cut = std::string_view::npos;  // byte offset of the first character past the limit
    int64_t chars = 0;
    bool rewrite = false;  // a NUL to replace, or (text format) a byte to escape
    size_t i = 0;
    while (i < n) {
      if (i + 8 <= n) {
        uint64_t w;
        std::memcpy(&w, s + i, 8);
        if ((w & kHighBits) == 0) {  // eight ASCII characters
          if (!rewrite) {
            rewrite = HasZeroByte(w) || (kTextFormat && (HasByte(w, '\\') || HasByte(w, '\t') ||
                                                         HasByte(w, '\n') || HasByte(w, '\r')));
          }
          if (limit > 0 && cut == std::string_view::npos && chars + 8 > limit) {
            cut = i + static_cast<size_t>(limit - chars);
          }
          chars += 8;
          i += 8;
          continue;
        }
      }
      if (limit > 0 && cut == std::string_view::npos && chars == limit) cut = i;
      const uint8_t c = s[i];
      if (c < 0x80) {
        if (c == 0 || (kTextFormat && NeedsTextEscape(c))) rewrite = true;
        ++i;
      } else {
        const int len = Utf8SequenceLength(s + i, n - i);
        if (len == 0) {
          if (message) {
            char hex[8];
            std::snprintf(hex, sizeof(hex), "0x%02X", c);
            *message = "invalid UTF-8 byte " + std::string(hex) + " at byte offset " +
                       std::to_string(i) + " of the value";
          }
          return {out, DataErrorKind::kInvalidUtf8};
        }
        i += static_cast<size_t>(len);
      }
      ++chars;
    }

    const std::string_view value = cut == std::string_view::npos ? text : text.substr(0, cut);
    char* p = out;
    if constexpr (!kTextFormat) {
      PutBE32(p, static_cast<uint32_t>(value.size()));
      p += 4;
      std::memcpy(p, value.data(), value.size());
      if (rewrite) {
        for (size_t j = 0; j < value.size(); ++j) {
          if (p[j] == '\0') p[j] = ' ';
        }
      }
      p += value.size();
    } else if (!rewrite) {
      std::memcpy(p, value.data(), value.size());
      p += value.size();
    } else {
      for (const char c : value) {
        switch (c) {
          case '\0':
            *p++ = ' ';
            break;
          case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;
          case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
          case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;
          case '\\':
            *p++ = '\\';
            *p++ = '\\';
            break;
          default:
            *p++ = c;
            break;
        }
      }
    }

    if (cut == std::string_view::npos) return Ok(p);
    if (message) {
      *message = "value has " + std::to_string(chars) + " characters, ColumnLength is " +
                 std::to_string(e.column_.length);
      if (e.column_.length > kMaxVarcharLength) *message += " (VARCHAR(65535))";
      *message += "; loaded its first " + std::to_string(limit) + " characters";
    }
    return {p, DataErrorKind::kTruncation};
  }

  // Hex digits, optionally after "\x" or "0x"; ColumnLength (BYTE) limits the bytes.
  template <CopyFormat F>
  static R Bytes(const ColumnEncoder& e, std::string_view text, bool is_null, char* out,
                 std::string* message) {
    if (is_null || text.empty()) return Null<F>(e, out, message);
    std::string_view hex = text;
    if (hex.size() >= 2 && (hex[0] == '\\' || hex[0] == '0') && (hex[1] == 'x' || hex[1] == 'X')) {
      hex.remove_prefix(2);
    }
    if (hex.size() % 2 != 0) return Invalid(e, text, out, message, "odd number of hex digits");
    for (char c : hex) {
      if (HexValue(c) < 0) {
        return Invalid(e, text, out, message, "expected hex digits, optionally after \\x or 0x");
      }
    }
    const size_t total = hex.size() / 2;
    const size_t size = e.max_length_ > 0 && total > static_cast<size_t>(e.max_length_)
                            ? static_cast<size_t>(e.max_length_)
                            : total;
    char* p = out;
    if constexpr (F == kText) {
      // bytea's hex input form, its backslash escaped for COPY: \\x…
      std::memcpy(p, "\\\\x", 3);
      std::memcpy(p + 3, hex.data(), 2 * size);
      p += 3 + 2 * size;
    } else {
      PutBE32(p, static_cast<uint32_t>(size));
      p += 4;
      for (size_t j = 0; j < size; ++j) {
        *p++ = static_cast<char>(HexValue(hex[2 * j]) << 4 | HexValue(hex[2 * j + 1]));
      }
    }
    if (size == total) return Ok(p);
    if (message) {
      *message = "value has " + std::to_string(total) + " bytes, ColumnLength is " +
                 std::to_string(e.column_.length) + "; loaded its first " + std::to_string(size) +
                 " bytes";
    }
    return {p, DataErrorKind::kTruncation};
  }

  template <CopyFormat F>
  static EncodeFn For(Kind kind) {
    switch (kind) {
      case Kind::kInt16:
        return &Integer<F, Kind::kInt16>;
      case Kind::kInt32:
        return &Integer<F, Kind::kInt32>;
      case Kind::kInt64:
        return &Integer<F, Kind::kInt64>;
      case Kind::kNumeric:
        return &Numeric<F>;
      case Kind::kFloat4:
        return &Float<F, Kind::kFloat4>;
      case Kind::kFloat8:
        return &Float<F, Kind::kFloat8>;
      case Kind::kBoolean:
        return &Boolean<F>;
      case Kind::kDate:
        return &DateTime<F, Kind::kDate>;
      case Kind::kTime:
        return &DateTime<F, Kind::kTime>;
      case Kind::kTimestamp:
        return &DateTime<F, Kind::kTimestamp>;
      case Kind::kDateTimeText:
        return &DateTime<F, Kind::kDateTimeText>;
      case Kind::kText:
        return &Text<F>;
      case Kind::kBytes:
        return &Bytes<F>;
    }
    return nullptr;
  }

  // MaxEncodedSize's terms: {fixed bytes, bytes per input byte}. Binary values carry a 4-byte
  // length; NULL is 4 bytes (binary) or 2 (text "\N").
  static std::pair<size_t, size_t> Bounds(Kind kind, CopyFormat format) {
    const bool binary = format == kBinary;
    switch (kind) {
      case Kind::kInt16:
      case Kind::kInt32:
      case Kind::kInt64:
        return {binary ? 12 : 20, 0};  // int8; "-9223372036854775808"
      case Kind::kNumeric:
        return {binary ? 4 + 8 + 2 * 16 : 96, 0};  // ≤ 11 base-10000 digits; sign, 38+1+38
      case Kind::kFloat4:
      case Kind::kFloat8:
        return {binary ? 12 : kFloatTextBytes, 0};
      case Kind::kBoolean:
        return {binary ? 5 : 4, 0};
      case Kind::kDate:
      case Kind::kTime:
      case Kind::kTimestamp:
      case Kind::kDateTimeText:
        return {48, 0};  // "YYYYY-MM-DD HH:MM:SS.fffffffff" and a length
      case Kind::kText:
        return binary ? std::pair<size_t, size_t>{4, 1} : std::pair<size_t, size_t>{2, 2};
      case Kind::kBytes:
        return {4, 1};  // binary: length + half the hex digits; text: "\\x" + the hex digits
    }
    return {0, 0};
  }
};

// ---------------------------------------------------------------------------------------------
// ColumnEncoder
// ---------------------------------------------------------------------------------------------

Result<ColumnEncoder> ColumnEncoder::Make(const ColumnDefinition& column, CopyFormat format) {
  ColumnEncoder e;
  e.column_ = column;
  e.format_ = format;
  e.type_label_ = std::string(DmsTypeName(column.type));
  const std::string where = "column \"" + column.name + "\"";
  auto integer = [&e](Kind kind, int64_t lo, int64_t hi) {
    e.kind_ = kind;
    e.min_ = lo;
    e.max_ = hi;
  };
  switch (column.type) {
    case DmsType::kInt1:
      integer(Kind::kInt16, -128, 127);
      break;
    case DmsType::kUint1:
      integer(Kind::kInt16, 0, 255);
      break;
    case DmsType::kInt2:
      integer(Kind::kInt16, -32768, 32767);
      break;
    case DmsType::kUint2:
      integer(Kind::kInt32, 0, 65535);
      break;
    case DmsType::kInt4:
      integer(Kind::kInt32, std::numeric_limits<int32_t>::min(),
              std::numeric_limits<int32_t>::max());
      break;
    case DmsType::kUint4:
      integer(Kind::kInt64, 0, std::numeric_limits<uint32_t>::max());
      break;
    case DmsType::kInt8:
      integer(Kind::kInt64, std::numeric_limits<int64_t>::min(),
              std::numeric_limits<int64_t>::max());
      break;
    // UINT8 lands in BIGINT: values above INT64_MAX cannot be stored.
    case DmsType::kUint8:
      integer(Kind::kInt64, 0, std::numeric_limits<int64_t>::max());
      break;
    case DmsType::kNumeric:
      if (column.precision < 1 || column.precision > 38 || column.scale < 0 ||
          column.scale > column.precision) {
        return Status::InvalidArgument(
            where + ": NUMERIC needs 1 ≤ precision ≤ 38 and 0 ≤ scale ≤ " + "precision, got (" +
            std::to_string(column.precision) + "," + std::to_string(column.scale) + ")");
      }
      e.kind_ = Kind::kNumeric;
      e.fraction_digits_ = column.scale;
      e.type_label_ =
          "NUMERIC(" + std::to_string(column.precision) + "," + std::to_string(column.scale) + ")";
      break;
    case DmsType::kReal4:
      e.kind_ = Kind::kFloat4;
      break;
    case DmsType::kReal8:
      e.kind_ = Kind::kFloat8;
      break;
    case DmsType::kBoolean:
      e.kind_ = Kind::kBoolean;
      break;
    case DmsType::kDate:
    case DmsType::kTime:
    case DmsType::kDateTime: {
      Result<DateTimeLayout> layout = ParseColumnDateFormat(column.type, column.date_format);
      if (!layout.ok()) return layout.status().WithContext(where);
      e.layout_ = *layout;
      if (column.type == DmsType::kDate) {
        e.kind_ = Kind::kDate;
        e.expected_form_ = "YYYY-MM-DD";
      } else if (column.type == DmsType::kTime) {
        e.kind_ = Kind::kTime;
        e.expected_form_ = "HH:MM:SS[.f]";
      } else {
        if (column.scale < 0 || column.scale > 9) {
          return Status::InvalidArgument(where + ": DATETIME scale must be 0..9, got " +
                                         std::to_string(column.scale));
        }
        e.kind_ = column.scale > 6 ? Kind::kDateTimeText : Kind::kTimestamp;
        e.fraction_digits_ = column.scale > 6 || column.scale_given ? column.scale : 6;
        e.expected_form_ = "YYYY-MM-DD HH:MM:SS[.f]";
      }
      if (!column.date_format.empty()) e.expected_form_ = column.date_format;
      break;
    }
    case DmsType::kString:
    case DmsType::kWString:
      e.kind_ = Kind::kText;
      if (column.length < 0) {
        return Status::InvalidArgument(where + ": ColumnLength must not be negative");
      }
      e.max_length_ = column.length > kMaxVarcharLength ? kCappedVarcharLength : column.length;
      break;
    case DmsType::kClob:
    case DmsType::kNClob:
      e.kind_ = Kind::kText;
      break;
    case DmsType::kByte:
      e.kind_ = Kind::kBytes;
      if (column.length < 0) {
        return Status::InvalidArgument(where + ": ColumnLength must not be negative");
      }
      e.max_length_ = column.length;
      break;
    case DmsType::kBlob:
      e.kind_ = Kind::kBytes;
      break;
  }
  e.encode_ = format == CopyFormat::kBinary ? Codecs::For<CopyFormat::kBinary>(e.kind_)
                                            : Codecs::For<CopyFormat::kText>(e.kind_);
  const auto [fixed, per_byte] = Codecs::Bounds(e.kind_, format);
  e.max_fixed_bytes_ = std::max<size_t>(fixed, format == CopyFormat::kBinary ? 4 : 2);  // NULL
  e.max_bytes_per_input_byte_ = per_byte;
  return e;
}

ValueIssue ColumnEncoder::Encode(std::string_view text, bool is_null, std::string& out) const {
  // Room first, then the bytes, then the size: the zero-fill of resize is off the hot path.
  const size_t start = out.size();
  out.resize(start + MaxEncodedSize(text.size()));
  ValueIssue issue;
  const EncodeResult r = encode_(*this, text, is_null, out.data() + start, &issue.message);
  out.resize(static_cast<size_t>(r.end - out.data()));
  issue.kind = r.kind;
  return issue;
}

// ---------------------------------------------------------------------------------------------
// CopyBuffer
// ---------------------------------------------------------------------------------------------

void CopyBuffer::Grow(size_t n) {
  // Doubling: a buffer filled to the COPY chunk size stops growing after a few rows.
  const size_t capacity = std::max({size_ + n, 2 * capacity_, size_t{4096}});
  auto data = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ > 0) std::memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

// ---------------------------------------------------------------------------------------------
// CopyRowWriter
// ---------------------------------------------------------------------------------------------

namespace {

// Signature "PGCOPY\n\377\r\n\0", int32 flags (no OIDs), int32 header extension length.
constexpr char kBinaryHeader[19] = {'P',  'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n',
                                    '\0', 0,   0,   0,   0,   0,   0,    0,      0};
constexpr std::string_view kBinaryTrailer("\xff\xff", 2);  // int16 -1

}  // namespace

CopyRowWriter::CopyRowWriter(CopyFormat format, int column_count)
    : format_(format), column_count_(column_count) {}

void CopyRowWriter::BeginStream(std::string& out) const {
  if (format_ != CopyFormat::kBinary) return;
  out.append(kBinaryHeader, sizeof(kBinaryHeader));
}

void CopyRowWriter::BeginStream(CopyBuffer& out) const {
  if (format_ != CopyFormat::kBinary) return;
  out.Append(std::string_view(kBinaryHeader, sizeof(kBinaryHeader)));
}

void CopyRowWriter::EndStream(CopyBuffer& out) const {
  if (format_ != CopyFormat::kBinary) return;
  out.Append(kBinaryTrailer);
}

void CopyRowWriter::BeginRow(std::string& out) const {
  if (format_ != CopyFormat::kBinary) return;
  char buf[2];
  PutBE16(buf, static_cast<uint16_t>(column_count_));
  out.append(buf, 2);
}

void CopyRowWriter::BeforeField(int index, std::string& out) const {
  if (format_ == CopyFormat::kText && index > 0) out.push_back('\t');
}

void CopyRowWriter::EndRow(std::string& out) const {
  if (format_ == CopyFormat::kText) out.push_back('\n');
}

void CopyRowWriter::EndStream(std::string& out) const {
  if (format_ != CopyFormat::kBinary) return;
  out.append(kBinaryTrailer);
}

std::string CopyRowWriter::CopySql(std::string_view qualified_table,
                                   const std::vector<std::string>& columns) const {
  std::string sql = "COPY ";
  sql.append(qualified_table);
  sql += " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) sql += ", ";
    sql += pg::QuoteIdentifier(columns[i]);
  }
  sql += ") FROM STDIN (FORMAT ";
  sql += format_ == CopyFormat::kBinary ? "binary" : "text";
  sql += ')';
  return sql;
}

std::string CopyRowWriter::CopySql(std::string_view schema, std::string_view table,
                                   const std::vector<std::string>& columns) const {
  return CopySql(pg::QualifiedName(schema, table), columns);
}

}  // namespace opendms::engine
