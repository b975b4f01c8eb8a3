// Command-line durations ("500ms", "30s", "10m", "1h30m") for CLI11 options.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"

namespace perfgate::common {

// Adds --name taking a Go-style duration into *out (keeps *out as the default).
inline CLI::Option* AddDurationOption(CLI::App& app, const std::string& name, absl::Duration* out,
                                      const std::string& help) {
  return app
      .add_option_function<std::string>(
          name,
          [out, name](const std::string& v) {
            absl::Duration d;
            if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration()) {
              throw CLI::ValidationError(name,
                                         "want a duration like 500ms, 30s, 10m; got '" + v + "'");
            }
            *out = d;
          },
          help + " (default " + absl::FormatDuration(*out) + ")")
      ->type_name("DURATION");
}

}  // namespace perfgate::common
