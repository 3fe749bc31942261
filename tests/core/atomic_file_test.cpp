#include "core/atomic_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

size_t entries(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST(AtomicFile, WritesFileAndLeavesNoTemporary) {
  const auto dir = pg::test::temp_dir();
  pg::write_atomically(dir / "out.txt", [](const fs::path& tmp) { std::ofstream(tmp) << "hello"; });
  EXPECT_EQ(pg::test::read_text(dir / "out.txt"), "hello");
  EXPECT_EQ(entries(dir), 1u);
}

TEST(AtomicFile, FailedWriteKeepsOldFileAndRemovesTemporary) {
  const auto dir = pg::test::temp_dir();
  std::ofstream(dir / "out.txt") << "old";
  EXPECT_THROW(pg::write_atomically(dir / "out.txt",
                                    [](const fs::path& tmp) {
                                      std::ofstream(tmp) << "partial";
                                      throw pg::Error("x", "y", "disk full");
                                    }),
               pg::Error);
  EXPECT_EQ(pg::test::read_text(dir / "out.txt"), "old");
  EXPECT_EQ(entries(dir), 1u);
}

TEST(AtomicFile, ReplacesDirectoryWhole) {
  const auto dir = pg::test::temp_dir();
  fs::create_directories(dir / "out");
  std::ofstream(dir / "out" / "stale.txt") << "stale";
  pg::write_atomically(dir / "out", [](const fs::path& tmp) {
    fs::create_directories(tmp);
    std::ofstream(tmp / "new.txt") << "new";
  });
  EXPECT_TRUE(fs::exists(dir / "out" / "new.txt"));
  EXPECT_FALSE(fs::exists(dir / "out" / "stale.txt"));
  EXPECT_EQ(entries(dir), 1u);
}

TEST(AtomicFile, RefusesToOverwriteAnInput) {
  const auto dir = pg::test::temp_dir();
  std::ofstream(dir / "in.txt") << "input";
  try {
    pg::write_atomically(dir / "in.txt", [](const fs::path& tmp) { std::ofstream(tmp) << "x"; },
                         {dir / "in.txt"});
    FAIL() << "expected pg::Error";
  } catch (const pg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("input"), std::string::npos);
  }
  EXPECT_EQ(pg::test::read_text(dir / "in.txt"), "input");
}

TEST(AtomicFile, MissingOutputDirectoryIsAClearError) {
  const auto dir = pg::test::temp_dir();
  try {
    pg::write_atomically(dir / "no" / "such" / "out.txt", [](const fs::path&) {});
    FAIL() << "expected pg::Error";
  } catch (const pg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos);
  }
}
