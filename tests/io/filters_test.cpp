// HDF5 compression filters in users' files: LZ4 and BZip2 decode through the
// Debian filter plugins (hdf5-filter-plugin); a filter this HDF5 lacks (Zstd)
// is a one-line error that names it.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/formats.h"
#include "test_support.h"

namespace {

TEST(Filters, PluginFiltersDecodeAndMissingOnesAreNamed) {
  const auto dir = pg::test::temp_dir();
  const auto r = pg::test::run_command("'" + pg::test::python() + "' '" +
                                       (pg::test::source_dir() / "tests/python/make_filtered.py").string() +
                                       "' '" + dir.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto plain = pg::io::read_h5ad((dir / "plain.h5ad").string());
  ASSERT_GT(plain.X.nnz(), 0);
  for (const char* name : {"lz4", "bzip2"}) {
    SCOPED_TRACE(name);
    const auto m = pg::io::read_h5ad((dir / (std::string(name) + ".h5ad")).string());
    EXPECT_EQ(m.X.indptr, plain.X.indptr);
    EXPECT_EQ(m.X.indices, plain.X.indices);
    EXPECT_EQ(m.X.data, plain.X.data);
    EXPECT_EQ(m.obs.find("group")->codes, plain.obs.find("group")->codes);
  }
  try {
    pg::io::read_h5ad((dir / "zstd.h5ad").string());
    FAIL() << "expected pg::Error";
  } catch (const pg::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("zstd.h5ad"), std::string::npos) << what;
    EXPECT_NE(what.find("compression filter zstd (HDF5 filter id 32015) is not available"), std::string::npos)
        << what;
  }
}

}  // namespace
