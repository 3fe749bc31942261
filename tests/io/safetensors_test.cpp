// safetensors: every golden file is read and written back byte for byte, and
// malformed files (truncated, overlapping or gapped offsets, sizes that do
// not match the shape, oversized headers, bad metadata) are refused by name.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "test_support.h"

namespace fs = std::filesystem;

namespace {

std::vector<pg::io::TensorData> tensors_of(const pg::io::SafeTensors& st) {
  std::vector<pg::io::TensorData> out;
  for (const auto& name : st.names()) {
    const auto& t = st.at(name);
    out.push_back({name, t.dtype, t.shape, t.bytes});
  }
  return out;
}

pg::io::SafetensorsMetadata metadata_of(const pg::io::SafeTensors& st) {
  return st.metadata_in_order();
}

// A file from a header text and data bytes.
std::string file_with(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

std::string error_reading(const fs::path& dir, const std::string& bytes) {
  const fs::path p = dir / "bad.safetensors";
  std::ofstream(p, std::ios::binary) << bytes;
  return pg::test::error_of([&] { pg::io::SafeTensors::read(p.string()); });
}

}  // namespace

TEST(Safetensors, GoldenFilesRoundTripByteForByte) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(pg::test::shared_dir() / "golden")) {
    if (entry.path().extension() != ".safetensors") continue;
    const auto st = pg::io::SafeTensors::read(entry.path().string());
    const std::string original = pg::test::read_text(entry.path());
    EXPECT_EQ(pg::io::safetensors_bytes(tensors_of(st), metadata_of(st)), original) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 10);
}

TEST(Safetensors, WriteIsAtomicAndReadsBack) {
  const fs::path dir = pg::test::temp_dir();
  const std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  const std::vector<int64_t> b{4, 5};
  pg::io::write_safetensors((dir / "w.safetensors").string(),
                            {{"b", "I64", {2}, {reinterpret_cast<const char*>(b.data()), 16}},
                             {"a", "F32", {2, 3}, {reinterpret_cast<const char*>(a.data()), 24}}},
                            {{"format", "pt"}});
  const auto st = pg::io::SafeTensors::read((dir / "w.safetensors").string());
  EXPECT_EQ(st.values<float>("a"), a);
  EXPECT_EQ(st.values<int64_t>("b"), b);
  EXPECT_EQ(st.at("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(st.metadata()["format"], "pt");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // no temporary left
  // Data offsets follow the sorted names: "a" first.
  EXPECT_EQ(st.at("a").bytes.data() + 24, st.at("b").bytes.data());
  EXPECT_NE(pg::test::error_of([&] {
              pg::io::safetensors_bytes({{"x", "F32", {3}, {reinterpret_cast<const char*>(a.data()), 8}}});
            }).find("has 8 bytes, shape and dtype need 12"),
            std::string::npos);
}

TEST(Safetensors, MalformedFilesAreRefusedWithTheReason) {
  const fs::path dir = pg::test::temp_dir();
  const std::string four(4, 'x');
  const std::string eight(8, 'x');
  EXPECT_NE(error_reading(dir, "abc").find("too short"), std::string::npos);
  EXPECT_NE(
      error_reading(
          dir,
          file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "").substr(0, 20))
          .find("exceeds the file size"),
      std::string::npos);
  EXPECT_NE(
      error_reading(dir, file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", four))
          .find("shape and dtype need 8 bytes"),
      std::string::npos);
  EXPECT_NE(error_reading(dir, file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
                                         eight))
                .find("overlaps"),
            std::string::npos);
  EXPECT_NE(
      error_reading(dir, file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight))
          .find("leaves a gap at byte 0"),
      std::string::npos);
  EXPECT_NE(
      error_reading(dir, file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", eight))
          .find("tensors cover 4 of the 8 data bytes"),
      std::string::npos);
  EXPECT_NE(
      error_reading(dir, file_with("{\"a\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}}", four))
          .find("unknown dtype 'Q9'"),
      std::string::npos);
  EXPECT_NE(error_reading(dir, file_with("{\"__metadata__\":{\"n\":3}}", ""))
                .find("__metadata__/n: is not a string"),
            std::string::npos);
  EXPECT_NE(error_reading(dir, file_with("{not json", "")).find("invalid JSON"), std::string::npos);
  std::string huge(8, '\0');
  const uint64_t n = (uint64_t{200} << 20);
  std::memcpy(huge.data(), &n, 8);
  huge.resize(8 + n, ' ');
  EXPECT_NE(error_reading(dir, huge).find("exceeds the limit"), std::string::npos);
}
