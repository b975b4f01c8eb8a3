#include "common/time/clock.h"

namespace perfgate::common {

Clock& RealClock::Get() {
  static RealClock* clock = new RealClock();
  return *clock;
}

}  // namespace perfgate::common
