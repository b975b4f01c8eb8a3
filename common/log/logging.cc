#include "common/log/logging.h"

#include "spdlog/sinks/stdout_color_sinks.h"

namespace perfgate::common {

absl::Status InitLogging(const std::string& component, const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError("--log-level: unknown level '" + level +
                                      "' (want trace, debug, info, warn or error)");
  }
  auto logger = spdlog::stderr_color_mt(component);
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%fZ level=%l component=%n %v",
                      spdlog::pattern_time_type::utc);
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return absl::OkStatus();
}

}  // namespace perfgate::common
