// Cron expressions for schedules (`perfgate schedule add --cron '0 2 * * *'`): the five fields
// of crontab(5) — minute, hour, day of month, month, day of week — each `*`, a number, a range
// `a-b`, a step `*/n` or `a-b/n`, or a comma list of those; day of week 0-7 (0 and 7 are
// Sunday). As in Vixie cron, when both day fields are restricted a day matching either one
// counts. Times are UTC.
#pragma once

#include <bitset>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace perfgate::common {

class CronSchedule {
 public:
  // INVALID_ARGUMENT naming the field and the problem ("hour: 24 is out of range 0-23").
  static absl::StatusOr<CronSchedule> Parse(const std::string& expr);

  // The first whole minute strictly after `t` that matches; InfiniteFuture if none within
  // five years (e.g. "0 0 30 2 *").
  absl::Time Next(absl::Time t) const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = false, any_weekday_ = false;
};

}  // namespace perfgate::common
