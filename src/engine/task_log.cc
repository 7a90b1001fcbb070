#include "engine/task_log.h"

namespace opendms::engine {

std::string_view LogComponentName(LogComponent component) {
  switch (component) {
    case LogComponent::kTaskManager:
      return "TASK_MANAGER";
    case LogComponent::kSourceUnload:
      return "SOURCE_UNLOAD";
    case LogComponent::kTargetLoad:
      return "TARGET_LOAD";
    case LogComponent::kSourceCapture:
      return "SOURCE_CAPTURE";
    case LogComponent::kTargetApply:
      return "TARGET_APPLY";
  }
  return "COMMON";
}

char LogSeverityLetter(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kError:
      return 'E';
    case LogSeverity::kWarning:
      return 'W';
    case LogSeverity::kInfo:
      return 'I';
    case LogSeverity::kDebug:
      return 'D';
  }
  return 'I';
}

spdlog::level::level_enum SpdlogLevel(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kError:
      return spdlog::level::err;
    case LogSeverity::kWarning:
      return spdlog::level::warn;
    case LogSeverity::kInfo:
      return spdlog::level::info;
    case LogSeverity::kDebug:
      return spdlog::level::debug;
  }
  return spdlog::level::info;
}

void WriteTaskLog(const RunOptions& options, std::string_view task_name, LogComponent component,
                  LogSeverity severity, std::string_view message) {
  spdlog::log(SpdlogLevel(severity), "task {}: {}", task_name, message);
  if (options.log_sink) options.log_sink(component, severity, message);
}

}  // namespace opendms::engine
