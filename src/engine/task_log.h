// engine (internal): the one way the engine writes a task's log line — to the process log
// (spdlog, "task NAME: message", unchanged for operators) and to the run's RunOptions::log_sink
// with its DMS component, so a server keeps each task's own lines.
#pragma once

#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include "engine/engine.h"

namespace opendms::engine {

// Writes an already formatted line to both destinations.
void WriteTaskLog(const RunOptions& options, std::string_view task_name, LogComponent component,
                  LogSeverity severity, std::string_view message);

spdlog::level::level_enum SpdlogLevel(LogSeverity severity);

// Formats (fmt syntax) only when some destination takes the line.
template <typename... Args>
void TaskLog(const RunOptions& options, std::string_view task_name, LogComponent component,
             LogSeverity severity, fmt::format_string<Args...> format, Args&&... args) {
  if (!options.log_sink && !spdlog::should_log(SpdlogLevel(severity))) return;
  WriteTaskLog(options, task_name, component, severity,
               fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace opendms::engine
