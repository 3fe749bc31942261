// MappedFile: maps what is on disk, survives moves, maps empty files, and
// reports missing files and directories as one-line pg::Errors.
#include "core/mapped_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

TEST(MappedFile, MapsTheFileBytes) {
  const auto dir = pg::test::temp_dir();
  std::string content(10000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7 % 251);
  std::ofstream(dir / "f.bin", std::ios::binary) << content;
  const pg::MappedFile m(dir / "f.bin");
  ASSERT_EQ(m.size(), 10000u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.data()), m.size()), content);
  EXPECT_EQ(m.path(), dir / "f.bin");
  EXPECT_EQ(m.bytes().size(), 10000u);
  m.advise_random();
  m.advise_sequential();
}

TEST(MappedFile, MoveKeepsTheMappingAndEmptiesTheSource) {
  const auto dir = pg::test::temp_dir();
  std::ofstream(dir / "f.bin", std::ios::binary) << "hello";
  pg::MappedFile a(dir / "f.bin");
  const std::byte* p = a.data();
  pg::MappedFile b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 5u);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(a.size(), 0u);
  pg::MappedFile c;
  c = std::move(b);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(c.data()), c.size()), "hello");
}

TEST(MappedFile, EmptyFileMapsToEmptySpan) {
  const auto dir = pg::test::temp_dir();
  std::ofstream(dir / "empty.bin");
  const pg::MappedFile m(dir / "empty.bin");
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.data(), nullptr);
}

TEST(MappedFile, ErrorsNameTheFile) {
  const auto dir = pg::test::temp_dir();
  const auto missing = pg::test::error_of([&] { pg::MappedFile m(dir / "nope.bin"); });
  EXPECT_EQ(missing, (dir / "nope.bin").string() + ": cannot open for reading: No such file or directory");
  const auto folder = pg::test::error_of([&] { pg::MappedFile m(dir); });
  EXPECT_EQ(folder, dir.string() + ": is not a regular file; cannot memory-map it");
}

}  // namespace
