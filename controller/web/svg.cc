#include "controller/web/svg.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace perfgate::controller {
namespace {

constexpr double kW = 520, kH = 160, kLeft = 60, kRight = 10, kTop = 10, kBottom = 28;

struct Scale {
  double lo, hi;
  double operator()(double v) const { return hi > lo ? (v - lo) / (hi - lo) : 0.5; }
};

// The axis range for `v`, padded so that no mark sits on the frame; from_zero starts it at 0
// (latencies). Values that are all non-negative never get an axis below zero.
Scale Range(std::vector<double> v, bool from_zero = false) {
  if (v.empty()) return {0, 1};
  auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  double lo = *mn, hi = *mx;
  const bool non_negative = lo >= 0;
  if (from_zero) lo = std::min(0.0, lo);
  const double pad = (hi - lo) * 0.08 + (hi == lo ? std::abs(hi) * 0.05 + 1e-9 : 0);
  double low = from_zero && lo == 0 ? 0 : lo - pad;
  if (non_negative) low = std::max(0.0, low);
  return {low, hi + pad};
}

std::string Open(double h) {
  return absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
      "role=\"img\" class=\"chart\"><rect x=\"0\" y=\"0\" width=\"%g\" height=\"%g\" "
      "fill=\"#fff\"/>",
      kW, h, kW, h, kW, h);
}

std::string Tick(double x, double y, const std::string& text, const char* anchor) {
  return absl::StrFormat(
      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"%s\" fill=\"#444\">%s</text>", x,
      y, anchor, HtmlEscape(text));
}

}  // namespace

std::string HtmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string DotPlotSvg(const std::vector<double>& baseline, const std::vector<double>& candidate,
                       const std::string& unit) {
  const double h = 70;
  std::vector<double> all(baseline);
  all.insert(all.end(), candidate.begin(), candidate.end());
  const Scale s = Range(all);
  const double plot_w = kW - kLeft - kRight;
  std::string out = Open(h);
  auto row = [&](const std::vector<double>& v, double y, const char* color, const char* name) {
    out += Tick(kLeft - 6, y + 3, name, "end");
    for (double x : v) {
      out += absl::StrFormat(
          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" fill-opacity=\"0.6\"><title>%.5g "
          "%s</title></circle>",
          kLeft + plot_w * s(x), y, color, x, HtmlEscape(unit));
    }
  };
  row(baseline, 18, "#1f77b4", "baseline");
  row(candidate, 40, "#d62728", "candidate");
  out += absl::StrFormat("<line x1=\"%g\" y1=\"54\" x2=\"%g\" y2=\"54\" stroke=\"#999\"/>", kLeft,
                         kW - kRight);
  out += Tick(kLeft, 66, absl::StrFormat("%.4g %s", s.lo, unit), "start");
  out += Tick(kW - kRight, 66, absl::StrFormat("%.4g %s", s.hi, unit), "end");
  return out + "</svg>";
}

std::string PercentileCurveSvg(const std::vector<double>& percentiles,
                               const std::vector<double>& baseline,
                               const std::vector<double>& candidate) {
  std::vector<double> all(baseline);
  all.insert(all.end(), candidate.begin(), candidate.end());
  const Scale ys = Range(all, true);
  // x: log10(1 / (1 - p/100)), so p50 .. p99.9 spread evenly by "nines".
  auto xv = [](double p) { return std::log10(1 / std::max(1e-9, 1 - p / 100)); };
  const Scale xs{xv(percentiles.empty() ? 50 : percentiles.front()),
                 xv(percentiles.empty() ? 99.9 : percentiles.back())};
  const double plot_w = kW - kLeft - kRight, plot_h = kH - kTop - kBottom;
  auto X = [&](double p) { return kLeft + plot_w * xs(xv(p)); };
  auto Y = [&](double v) { return kTop + plot_h * (1 - ys(v)); };
  std::string out = Open(kH);
  out += absl::StrFormat("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#999\"/>", kLeft,
                         kTop + plot_h, kW - kRight, kTop + plot_h);
  out += Tick(kLeft - 6, Y(ys.hi) + 8, absl::StrFormat("%.3g ms", ys.hi), "end");
  out += Tick(kLeft - 6, Y(ys.lo), absl::StrFormat("%.3g ms", ys.lo), "end");
  // The last label ends at the plot's edge instead of running off the chart.
  for (size_t i = 0; i < percentiles.size(); ++i) {
    const double p = percentiles[i];
    out += Tick(X(p), kH - 10, absl::StrFormat("p%g", p),
                i + 1 == percentiles.size() && i > 0 ? "end" : "middle");
  }
  auto line = [&](const std::vector<double>& v, const char* color, const char* name) {
    std::string pts;
    for (size_t i = 0; i < v.size() && i < percentiles.size(); ++i)
      pts += absl::StrFormat("%.1f,%.1f ", X(percentiles[i]), Y(v[i]));
    out += absl::StrFormat(
        "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"><title>%s"
        "</title></polyline>",
        pts, color, name);
    for (size_t i = 0; i < v.size() && i < percentiles.size(); ++i)
      out += absl::StrFormat(
          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s p%g: %.4g ms</title>"
          "</circle>",
          X(percentiles[i]), Y(v[i]), color, name, percentiles[i], v[i]);
  };
  line(baseline, "#1f77b4", "baseline");
  line(candidate, "#d62728", "candidate");
  return out + "</svg>";
}

std::string ScaleCurveSvg(const std::vector<std::string>& labels, const std::vector<double>& sizes,
                          const std::vector<double>& baseline, const std::vector<double>& candidate,
                          const std::string& unit) {
  std::vector<double> all;
  for (const auto* v : {&baseline, &candidate})
    for (double x : *v)
      if (std::isfinite(x)) all.push_back(x);
  const Scale ys = Range(all, true);
  const Scale xs = Range(sizes);
  const double plot_w = kW - kLeft - kRight - 20, plot_h = kH - kTop - kBottom;
  auto X = [&](double v) { return kLeft + 10 + plot_w * (sizes.size() > 1 ? xs(v) : 0.5); };
  auto Y = [&](double v) { return kTop + plot_h * (1 - ys(v)); };
  std::string out = Open(kH);
  out += absl::StrFormat("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#999\"/>", kLeft,
                         kTop + plot_h, kW - kRight, kTop + plot_h);
  out += Tick(kLeft - 6, Y(ys.hi) + 8, absl::StrFormat("%.4g %s", ys.hi, unit), "end");
  out += Tick(kLeft - 6, Y(ys.lo), absl::StrFormat("%.4g %s", ys.lo, unit), "end");
  for (size_t i = 0; i < labels.size() && i < sizes.size(); ++i)
    out += Tick(X(sizes[i]), kH - 10, labels[i], "middle");
  auto line = [&](const std::vector<double>& v, const char* color, const char* name) {
    std::string pts;
    for (size_t i = 0; i < v.size() && i < sizes.size(); ++i)
      if (std::isfinite(v[i])) pts += absl::StrFormat("%.1f,%.1f ", X(sizes[i]), Y(v[i]));
    if (pts.empty()) return;
    out += absl::StrFormat(
        "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"><title>%s"
        "</title></polyline>",
        pts, color, name);
    for (size_t i = 0; i < v.size() && i < sizes.size(); ++i) {
      if (!std::isfinite(v[i])) continue;
      out += absl::StrFormat(
          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s %s: %.4g %s</title>"
          "</circle>",
          X(sizes[i]), Y(v[i]), color, name, HtmlEscape(i < labels.size() ? labels[i] : ""), v[i],
          HtmlEscape(unit));
    }
  };
  line(baseline, "#1f77b4", "baseline");
  line(candidate, "#d62728", "this campaign");
  return out + "</svg>";
}

std::string HistorySvg(const std::vector<HistorySvgPoint>& points, const std::vector<int>& changes,
                       const std::string& unit) {
  std::vector<double> all;
  for (const auto& p : points) {
    all.push_back(p.q1);
    all.push_back(p.q3);
    all.push_back(p.median);
  }
  const Scale ys = Range(all);
  const double plot_w = kW - kLeft - kRight, plot_h = kH - kTop - kBottom;
  const size_t n = points.size();
  auto X = [&](double i) { return kLeft + plot_w * (n > 1 ? i / (n - 1) : 0.5); };
  auto Y = [&](double v) { return kTop + plot_h * (1 - ys(v)); };
  std::string out = Open(kH);
  out += Tick(kLeft - 6, Y(ys.hi) + 8, absl::StrFormat("%.4g %s", ys.hi, unit), "end");
  out += Tick(kLeft - 6, Y(ys.lo), absl::StrFormat("%.4g %s", ys.lo, unit), "end");
  for (int c : changes) {
    const double x = X(c - 0.5);
    out += absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ff7f0e\" "
        "stroke-dasharray=\"4 3\" stroke-width=\"2\" class=\"change-point\"><title>change point"
        "</title></line>",
        x, kTop, x, kTop + plot_h);
  }
  std::string pts;
  for (size_t i = 0; i < n; ++i) {
    const auto& p = points[i];
    out +=
        absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#aac\"/>",
                        X(i), Y(p.q1), X(i), Y(p.q3));
    out += absl::StrFormat(
        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f77b4\"><title>%s: %.5g %s</title>"
        "</circle>",
        X(i), Y(p.median), HtmlEscape(p.label), p.median, HtmlEscape(unit));
    pts += absl::StrFormat("%.1f,%.1f ", X(i), Y(p.median));
  }
  out += absl::StrFormat("<polyline points=\"%s\" fill=\"none\" stroke=\"#1f77b4\"/>", pts);
  return out + "</svg>";
}

}  // namespace perfgate::controller
