#include <cmath>
#include <ctime>

#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/core.h"

namespace opendms {

std::atomic<int64_t> Clock::offset_seconds_{0};

TimePoint Clock::Now() {
  return std::chrono::system_clock::now() + std::chrono::seconds(offset_seconds_.load());
}
void Clock::SetOffset(std::chrono::seconds offset) { offset_seconds_.store(offset.count()); }
std::chrono::seconds Clock::Offset() { return std::chrono::seconds(offset_seconds_.load()); }

double ToEpochSeconds(TimePoint t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  // Millisecond precision, as AWS returns it (1590524772.505).
  return std::round(static_cast<double>(us) / 1000.0) / 1000.0;
}

TimePoint FromEpochSeconds(double seconds) {
  return TimePoint(std::chrono::microseconds(static_cast<int64_t>(std::llround(seconds * 1e6))));
}

std::string FormatIso8601(TimePoint t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

void InitLogging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("opendms");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") lvl = spdlog::level::info;
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
}

}  // namespace opendms
