#include "common/time/cron.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace perfgate::common {
namespace {

struct Field {
  const char* name;
  int lo, hi;
};
constexpr Field kFields[] = {{"minute", 0, 59},
                             {"hour", 0, 23},
                             {"day of month", 1, 31},
                             {"month", 1, 12},
                             {"day of week", 0, 7}};

absl::Status Bad(const Field& f, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(f.name, ": ", what));
}

absl::StatusOr<int> Number(const Field& f, absl::string_view s) {
  int v = 0;
  if (s.empty() || !absl::SimpleAtoi(s, &v))
    return Bad(f, absl::StrCat("'", s, "' is not a number"));
  if (v < f.lo || v > f.hi) return Bad(f, absl::StrCat(v, " is out of range ", f.lo, "-", f.hi));
  return v;
}

// Sets the values of one field into `out` (index = value); `any` when it is a bare `*`.
absl::Status ParseField(const Field& f, absl::string_view text, std::vector<bool>* out, bool* any) {
  out->assign(f.hi + 1, false);
  *any = text == "*";
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    if (item.empty()) return Bad(f, "an empty list item");
    int step = 1;
    if (size_t slash = item.find('/'); slash != absl::string_view::npos) {
      const absl::string_view s = item.substr(slash + 1);
      if (!absl::SimpleAtoi(s, &step) || step < 1 || step > f.hi)
        return Bad(f, absl::StrCat("step '", s, "' must be from 1 to ", f.hi));
      item = item.substr(0, slash);
    }
    int a = f.lo, b = f.hi;
    if (item != "*") {
      if (size_t dash = item.find('-'); dash != absl::string_view::npos) {
        auto x = Number(f, item.substr(0, dash));
        if (!x.ok()) return x.status();
        auto y = Number(f, item.substr(dash + 1));
        if (!y.ok()) return y.status();
        if (*x > *y) return Bad(f, absl::StrCat("range ", *x, "-", *y, " runs backwards"));
        a = *x;
        b = *y;
      } else {
        auto x = Number(f, item);
        if (!x.ok()) return x.status();
        a = *x;
        b = step > 1 ? f.hi : *x;  // "5/15" is 5, 20, 35, 50
      }
    }
    for (int v = a; v <= b; v += step) (*out)[v] = true;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(const std::string& expr) {
  if (expr.size() > 200) return absl::InvalidArgumentError("cron: at most 200 characters");
  std::vector<absl::string_view> parts = absl::StrSplit(expr, ' ', absl::SkipWhitespace());
  if (parts.size() != 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("cron: want five fields (minute hour day-of-month month day-of-week), got ",
                     parts.size(), " in '", expr, "'"));
  }
  CronSchedule c;
  c.text_ = expr;
  std::vector<bool> v;
  bool any = false;
  auto field = [&](int i) { return ParseField(kFields[i], parts[i], &v, &any); };
  if (auto s = field(0); !s.ok()) return s;
  for (int i = 0; i < 60; ++i) c.minutes_[i] = v[i];
  if (auto s = field(1); !s.ok()) return s;
  for (int i = 0; i < 24; ++i) c.hours_[i] = v[i];
  if (auto s = field(2); !s.ok()) return s;
  for (int i = 1; i <= 31; ++i) c.days_[i] = v[i];
  c.any_day_ = any;
  if (auto s = field(3); !s.ok()) return s;
  for (int i = 1; i <= 12; ++i) c.months_[i] = v[i];
  if (auto s = field(4); !s.ok()) return s;
  for (int i = 0; i <= 7; ++i)
    if (v[i]) c.weekdays_[i % 7] = true;
  c.any_weekday_ = any;
  return c;
}

absl::Time CronSchedule::Next(absl::Time t) const {
  const absl::TimeZone utc = absl::UTCTimeZone();
  // From the next whole minute, a day at a time while the day does not match.
  absl::CivilMinute m = absl::ToCivilMinute(t, utc) + 1;
  const absl::CivilDay last = absl::CivilDay(m) + 5 * 366;
  for (absl::CivilDay d = absl::CivilDay(m); d <= last; ++d) {
    if (!months_[d.month()]) continue;
    const bool dom = days_[d.day()];
    // absl counts from Monday = 0, cron from Sunday = 0.
    const bool dow = weekdays_[(static_cast<int>(absl::GetWeekday(d)) + 1) % 7];
    const bool day_ok = any_day_ && any_weekday_ ? true
                        : any_day_               ? dow
                        : any_weekday_           ? dom
                                                 : dom || dow;
    if (!day_ok) continue;
    const int first_hour = d == absl::CivilDay(m) ? m.hour() : 0;
    for (int h = first_hour; h < 24; ++h) {
      if (!hours_[h]) continue;
      const int first_minute = d == absl::CivilDay(m) && h == m.hour() ? m.minute() : 0;
      for (int min = first_minute; min < 60; ++min) {
        if (minutes_[min])
          return absl::FromCivil(absl::CivilMinute(d.year(), d.month(), d.day(), h, min), utc);
      }
    }
  }
  return absl::InfiniteFuture();
}

}  // namespace perfgate::common
