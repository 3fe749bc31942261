// Exact neighbours and UMAP connectivities against scanpy's sc.pp.neighbors
// on 300 real cells, and the small cases scanpy special-cases.
#include "analysis/knn_graph.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "program_fixtures.h"

namespace {

using pg::analysis::Matrix;

TEST(KnnGraph, NeighboursMatchScanpy) {
  const Matrix pca = pg::test::matrix_of(pg::test::program_fixtures()["pca"]);
  const auto nn = pg::analysis::exact_neighbours(pca, 15);
  ASSERT_EQ(nn.n_rows, 300);
  ASSERT_EQ(nn.k, 15);
  const auto& expected = pg::test::program_fixtures()["knn_indices"];
  int64_t differ = 0;
  for (int64_t i = 0; i < nn.n_rows; ++i) {
    EXPECT_EQ(nn.index(i, 0), i);
    EXPECT_EQ(nn.distance(i, 0), 0.0);
    for (int64_t j = 0; j < nn.k; ++j) {
      differ += nn.index(i, j) != expected[static_cast<size_t>(i)][static_cast<size_t>(j)].get<int64_t>();
      if (j > 0) {
        EXPECT_LE(nn.distance(i, j - 1), nn.distance(i, j));
        const double d = (pca.row(i) - pca.row(nn.index(i, j))).norm();
        EXPECT_NEAR(nn.distance(i, j), d, 1e-12);
      }
    }
  }
  EXPECT_EQ(differ, 0);
}

TEST(KnnGraph, ConnectivitiesMatchScanpy) {
  const Matrix pca = pg::test::matrix_of(pg::test::program_fixtures()["pca"]);
  const auto g = pg::analysis::umap_connectivities(pg::analysis::exact_neighbours(pca, 15));
  const auto expected = pg::test::fixture_connectivities();
  ASSERT_EQ(g.n_vertices, 300);
  ASSERT_EQ(g.edges.size(), expected.edges.size());
  double max_diff = 0;
  for (size_t e = 0; e < g.edges.size(); ++e) {
    ASSERT_EQ(g.edges[e].a, expected.edges[e].a) << e;
    ASSERT_EQ(g.edges[e].b, expected.edges[e].b) << e;
    max_diff = std::max(max_diff, std::abs(g.edges[e].weight - expected.edges[e].weight));
  }
  std::cout << "connectivities: " << g.edges.size() << " edges, max |ours - scanpy| = " << max_diff << "\n";
  EXPECT_LE(max_diff, 1e-6);
}

TEST(KnnGraph, ConnectivitiesAreAFuzzyUnion) {
  // Every weight in (0, 1]; each row's nearest other point is fully connected.
  const Matrix pca = pg::test::matrix_of(pg::test::program_fixtures()["pca"]);
  const auto nn = pg::analysis::exact_neighbours(pca, 15);
  const auto g = pg::analysis::umap_connectivities(nn);
  std::map<std::pair<int64_t, int64_t>, double> w;
  for (const auto& e : g.edges) {
    EXPECT_LT(e.a, e.b);
    EXPECT_GT(e.weight, 0.0);
    EXPECT_LE(e.weight, 1.0);
    w[{e.a, e.b}] = e.weight;
  }
  for (int64_t i = 0; i < nn.n_rows; ++i) {
    const int64_t j = nn.index(i, 1);
    EXPECT_FLOAT_EQ(w.at({std::min(i, j), std::max(i, j)}), 1.0f);
  }
}

TEST(KnnGraph, SmallInputsFollowScanpy) {
  EXPECT_EQ(pg::analysis::effective_neighbours(15, 1000), 15);
  EXPECT_EQ(pg::analysis::effective_neighbours(15, 15), 15);
  EXPECT_EQ(pg::analysis::effective_neighbours(15, 10), 6);  // 1 + n/2
  EXPECT_THROW(pg::analysis::effective_neighbours(0, 10), std::invalid_argument);

  Matrix x(4, 1);
  x << 0.0, 1.0, 3.0, 7.0;
  const auto nn = pg::analysis::exact_neighbours(x, 3);
  ASSERT_EQ(nn.k, 3);
  EXPECT_EQ(std::vector<int64_t>(nn.indices.begin(), nn.indices.begin() + 3),
            (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(std::vector<int64_t>(nn.indices.begin() + 9, nn.indices.end()), (std::vector<int64_t>{3, 2, 1}));
  EXPECT_DOUBLE_EQ(nn.distance(3, 2), 6.0);

  // Ties go to the lower row number.
  Matrix t(3, 1);
  t << 0.0, -1.0, 1.0;
  EXPECT_EQ(pg::analysis::exact_neighbours(t, 2).index(0, 1), 1);

  EXPECT_EQ(pg::analysis::exact_neighbours(Matrix(0, 3), 15).n_rows, 0);
  const auto one = pg::analysis::exact_neighbours(Matrix::Zero(1, 2), 15);
  EXPECT_EQ(one.k, 1);
  EXPECT_TRUE(pg::analysis::umap_connectivities(one).edges.empty());
}

TEST(KnnGraph, DuplicatePointsAreFullyConnected) {
  Matrix x(5, 2);
  x << 0, 0, 0, 0, 1, 0, 5, 5, 5, 6;
  const auto g = pg::analysis::umap_connectivities(pg::analysis::exact_neighbours(x, 3));
  bool found = false;
  for (const auto& e : g.edges) {
    EXPECT_TRUE(std::isfinite(e.weight));
    if (e.a == 0 && e.b == 1) found = e.weight == 1.0;
  }
  EXPECT_TRUE(found);
}

TEST(KnnGraph, NonFiniteValuesAreAnError) {
  Matrix x = Matrix::Zero(3, 2);
  x(1, 1) = std::numeric_limits<double>::quiet_NaN();
  try {
    pg::analysis::exact_neighbours(x, 2);
    FAIL() << "no error";
  } catch (const pg::Error& e) {
    EXPECT_EQ(e.element(), "row 1");
  }
}

}  // namespace
