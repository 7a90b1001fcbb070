// Internal to csv: finding the next special byte several bytes at a time (SSE2, or 64-bit words
// where SSE2 is missing).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace opendms::csv::internal {

// Readable bytes the scanners need after the end of the data (they read whole words, and only
// report matches before the end).
inline constexpr size_t kScanPadding = 64;

// First byte in [p, end) equal to `a` or `b`, or `end`. Reads up to 15 bytes past `end`.
#if defined(__SSE2__)
inline const char* FindEitherSse2(const char* p, const char* end, char a, char b) {
  const __m128i va = _mm_set1_epi8(a);
  const __m128i vb = _mm_set1_epi8(b);
  while (p < end) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned mask = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb))));
    if (mask != 0) {
      const char* hit = p + std::countr_zero(mask);
      return hit < end ? hit : end;
    }
    p += 16;
  }
  return end;
}
#endif

// The same, 8 bytes at a time in a 64-bit word (SWAR), for targets without SSE2. Reads up to 7
// bytes past `end`.
inline uint64_t ZeroByteMask(uint64_t x) {
  // 0x80 in every byte of x that is zero, 0 elsewhere: exact (no carries cross bytes), so the
  // first match can be read from either end of the word.
  constexpr uint64_t kLows = 0x7F7F7F7F7F7F7F7FULL;
  return ~(((x & kLows) + kLows) | x | kLows);
}

inline const char* FindEitherSwar(const char* p, const char* end, char a, char b) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  const uint64_t wa = kOnes * static_cast<uint8_t>(a);
  const uint64_t wb = kOnes * static_cast<uint8_t>(b);
  while (p < end) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    const uint64_t hits = ZeroByteMask(word ^ wa) | ZeroByteMask(word ^ wb);
    if (hits != 0) {
      const int first = std::endian::native == std::endian::little ? std::countr_zero(hits)
                                                                   : std::countl_zero(hits);
      const char* hit = p + first / 8;
      return hit < end ? hit : end;
    }
    p += 8;
  }
  return end;
}

// Bit i set where p[i] is `a` or `b`, for the 64 bytes from p (which must all be readable).
#if defined(__SSE2__)
inline uint64_t MatchMask64Sse2(const char* p, char a, char b) {
  const __m128i va = _mm_set1_epi8(a);
  const __m128i vb = _mm_set1_epi8(b);
  uint64_t mask = 0;
  for (int i = 0; i < 4; ++i) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    const auto bits = static_cast<uint32_t>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb))));
    mask |= static_cast<uint64_t>(bits) << (16 * i);
  }
  return mask;
}
#endif

inline uint64_t MatchMask64Swar(const char* p, char a, char b) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  // Gathers the low bit of each byte into the top byte, byte k to bit k (no carries: every
  // partial product lands on a distinct bit).
  constexpr uint64_t kGather = 0x0102040810204080ULL;
  const uint64_t wa = kOnes * static_cast<uint8_t>(a);
  const uint64_t wb = kOnes * static_cast<uint8_t>(b);
  uint64_t mask = 0;
  for (int i = 0; i < 8; ++i) {
    uint64_t word;
    std::memcpy(&word, p + 8 * i, sizeof(word));
    if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
    const uint64_t hits = (ZeroByteMask(word ^ wa) | ZeroByteMask(word ^ wb)) >> 7;
    mask |= ((hits * kGather) >> 56) << (8 * i);
  }
  return mask;
}

inline uint64_t MatchMask64(const char* p, char a, char b) {
#if defined(__SSE2__)
  return MatchMask64Sse2(p, a, b);
#else
  return MatchMask64Swar(p, a, b);
#endif
}

inline const char* FindEither(const char* p, const char* end, char a, char b) {
#if defined(__SSE2__)
  return FindEitherSse2(p, end, a, b);
#else
  return FindEitherSwar(p, end, a, b);
#endif
}

}  // namespace opendms::csv::internal
