// The expected values of tests/data/metrics/metric_fixtures.json, written by
// tests/python/make_metric_fixtures.py with POT, scipy and numpy.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/matrix.h"
#include "test_support.h"

namespace pg::test {

inline const nlohmann::json& metric_fixtures() {
  static const nlohmann::json j = [] {
    std::ifstream in(source_dir() / "tests" / "data" / "metrics" / "metric_fixtures.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

inline analysis::Matrix matrix_of(const nlohmann::json& rows) {
  analysis::Matrix m(static_cast<Eigen::Index>(rows.size()),
                     rows.empty() ? 0 : static_cast<Eigen::Index>(rows[0].size()));
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index c = 0; c < m.cols(); ++c)
      m(r, c) = rows[static_cast<size_t>(r)][static_cast<size_t>(c)].get<double>();
  return m;
}

// |actual - expected| <= rel * max(|expected|, 1e-300)
inline void expect_rel(double actual, double expected, double rel, const std::string& what) {
  EXPECT_NEAR(actual, expected, rel * std::max(std::abs(expected), 1e-300)) << what;
}

}  // namespace pg::test
