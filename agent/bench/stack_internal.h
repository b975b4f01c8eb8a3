// Shared by the stack drivers (exec_stack.cc, compose_stack.cc); not for other callers.
#pragma once

#include <memory>
#include <string>

#include "agent/bench/stack.h"

namespace perfgate::agent {

std::unique_ptr<Stack> MakeExecStack(const v1::StackSpec& spec, BenchContext& ctx);
std::unique_ptr<Stack> MakeComposeStack(const v1::StackSpec& spec, BenchContext& ctx);
// Appends (the last 256 KiB of) a service's output file to the attempt's log.
void ShipLogTail(BenchContext& ctx, const std::string& name, const std::string& path);

}  // namespace perfgate::agent
