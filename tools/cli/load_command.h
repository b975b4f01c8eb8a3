// `perfgate load URL ...`: the built-in load generator from the command line. Prints
// percentiles per request (table) or the whole result (JSON). Exit 0 when the run is valid,
// 1 when it is invalid (the generator or the server fell behind; the reason is printed),
// 2 for bad options.
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace perfgate::cli {

struct LoadFlags {
  std::string url;
  double rate = 0;
  std::string duration = "10s";
  int connections = 10;
  int threads = 1;
  bool closed_loop = false;
  bool poisson = false;
  std::string method = "GET";
  std::string body;
  std::vector<std::string> headers;
  std::string timeout = "5s";
  std::string max_generator_lag = "10ms";
  std::string spin_window = "0s";
};

// Registers the subcommand's options on `cmd`.
void AddLoadFlags(CLI::App* cmd, LoadFlags* f);
// Runs it; `json` selects the output.
int RunLoadCommand(const LoadFlags& f, bool json);

}  // namespace perfgate::cli
