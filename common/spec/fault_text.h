// One line saying what a fault of a repetition's schedule did (perfgate.v1.FaultRecord), for
// `perfgate run results` and the run page: "kill-leader: kill etcd on etcd-2 at +5002 ms
// (scheduled +5000 ms; leader probe answered 'etcd-2'), undone at +9001 ms, recovered 1300 ms
// after it".
#pragma once

#include <string>

#include "perfgate/v1/results.pb.h"

namespace perfgate::common {

std::string FaultText(const v1::FaultRecord& f);

}  // namespace perfgate::common
