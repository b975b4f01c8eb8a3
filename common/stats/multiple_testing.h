// Benjamini-Hochberg control of the false discovery rate across the metrics of one comparison.
#pragma once

#include <vector>

namespace perfgate::common {

// BH-adjusted p-values (R's p.adjust(p, "BH")), in the input's order: p_(i) * m / i, made
// monotone from the largest down, capped at 1. Rejecting where adjusted <= q is the BH
// procedure at level q.
std::vector<double> BenjaminiHochberg(const std::vector<double>& p);

}  // namespace perfgate::common
