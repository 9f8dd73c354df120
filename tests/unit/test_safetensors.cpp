// Safetensors parsing against small crafted files: every malformed header, offset or shard must
// give an error that names the file and the tensor or field, never a crash or an out-of-bounds read.
#include <gtest/gtest.h>

#include <cstring>

#include "glimpse/safetensors.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using testing::CraftedTensor;
using testing::f32_bytes;
using testing::safetensors_bytes;
using testing::safetensors_bytes_raw;

std::vector<CraftedTensor> two_tensors() {
  return {{"a.weight", "F32", {2, 3}, f32_bytes({1, 2, 3, 4, 5, 6})}, {"b.bias", "F32", {2}, f32_bytes({7, 8})}};
}

Result<SafetensorsHeader> parse(const std::vector<std::uint8_t>& bytes) {
  return parse_safetensors_header(bytes.data(), bytes.size(), "crafted.safetensors");
}

// Checks that `result` failed with `code` and a message containing each of `fragments`.
template <typename T>
void expect_error(const Result<T>& result, ErrorCode code, std::initializer_list<std::string> fragments) {
  ASSERT_FALSE(result.ok()) << "expected an error containing '" << *fragments.begin() << "'";
  EXPECT_EQ(result.error().code, code) << result.error().to_string();
  for (const std::string& fragment : fragments) {
    EXPECT_NE(result.error().message.find(fragment), std::string::npos)
        << "message '" << result.error().message << "' lacks '" << fragment << "'";
  }
}

TEST(Safetensors, ParsesWellFormedHeader) {
  auto header = parse(safetensors_bytes(two_tensors()));
  ASSERT_TRUE(header.ok()) << header.error().to_string();
  ASSERT_EQ(header->entries.size(), 2u);
  const auto& a = header->entries[0].name == "a.weight" ? header->entries[0] : header->entries[1];
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.end - a.begin, 24u);
}

TEST(Safetensors, ReadsMetadataAndZeroSizedTensor) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"empty":{"dtype":"F16","shape":[0,4],"data_offsets":[0,0]}})";
  auto parsed = parse(safetensors_bytes_raw(header, {}));
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  EXPECT_EQ(parsed->metadata.at("format"), "pt");
  EXPECT_EQ(parsed->entries.size(), 1u);
}

TEST(Safetensors, RejectsFileShorterThanLengthField) {
  expect_error(parse({1, 2, 3}), ErrorCode::kInvalidFormat, {"crafted.safetensors", "too short"});
}

TEST(Safetensors, RejectsHeaderLengthPastEndOfFile) {
  auto bytes = safetensors_bytes(two_tensors());
  bytes[0] = 0xff;
  bytes[1] = 0xff;
  expect_error(parse(bytes), ErrorCode::kInvalidFormat, {"header length", "truncated"});
}

TEST(Safetensors, RejectsHugeHeaderLength) {
  std::vector<std::uint8_t> bytes(16, 0);
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = 0xff;  // 2^64 - 1
  expect_error(parse(bytes), ErrorCode::kInvalidFormat, {"100 MB"});
}

TEST(Safetensors, RejectsMalformedJson) {
  expect_error(parse(safetensors_bytes_raw("{\"a\": [1, 2", {})), ErrorCode::kInvalidFormat,
               {"crafted.safetensors", "invalid JSON"});
  expect_error(parse(safetensors_bytes_raw("[1, 2]", {})), ErrorCode::kInvalidFormat, {"JSON object"});
}

TEST(Safetensors, RejectsBadDtypeAndShape) {
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", f32_bytes({1}))),
               ErrorCode::kInvalidFormat, {"tensor 't'", "dtype"});
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})",
                                           f32_bytes({1}))),
               ErrorCode::kInvalidFormat, {"tensor 't'", "unknown dtype 'F33'"});
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
                                           f32_bytes({1}))),
               ErrorCode::kInvalidFormat, {"tensor 't'", "non-negative"});
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
                                           f32_bytes({1}))),
               ErrorCode::kInvalidFormat, {"tensor 't'", "shape"});
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})",
                                           f32_bytes({1}))),
               ErrorCode::kInvalidFormat, {"tensor 't'", "shape"});
}

TEST(Safetensors, RejectsShapeWhoseByteCountOverflows) {
  const std::string header =
      R"({"t":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,4]}})";
  expect_error(parse(safetensors_bytes_raw(header, f32_bytes({1}))), ErrorCode::kInvalidFormat,
               {"tensor 't'", "overflows"});
  const std::string wraps = R"({"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})";
  expect_error(parse(safetensors_bytes_raw(wraps, {})), ErrorCode::kInvalidFormat, {"tensor 't'", "overflows"});
}

TEST(Safetensors, RejectsOffsetsOutsideData) {
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                           f32_bytes({1}))),
               ErrorCode::kInvalidFormat, {"tensor 't'", "outside", "truncated"});
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})",
                                           f32_bytes({1, 2}))),
               ErrorCode::kInvalidFormat, {"tensor 't'"});
  expect_error(parse(safetensors_bytes_raw(
                   R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,3]}})", f32_bytes({1}))),
               ErrorCode::kInvalidFormat, {"tensor 't'"});
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}})",
                                           f32_bytes({1}))),
               ErrorCode::kInvalidFormat, {"tensor 't'", "data_offsets"});
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})",
                                           f32_bytes({1}))),
               ErrorCode::kInvalidFormat, {"tensor 't'", "non-negative"});
}

TEST(Safetensors, RejectsSizeMismatch) {
  expect_error(parse(safetensors_bytes_raw(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                           f32_bytes({1, 2}))),
               ErrorCode::kInvalidFormat, {"tensor 't'", "needs 12 bytes", "span 8"});
}

TEST(Safetensors, RejectsOverlappingTensors) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  expect_error(parse(safetensors_bytes_raw(header, f32_bytes({1, 2, 3}))), ErrorCode::kInvalidFormat,
               {"'a'", "'b'", "overlap"});
}

TEST(Safetensors, RejectsNonStringMetadata) {
  expect_error(parse(safetensors_bytes_raw(R"({"__metadata__":{"format":1}})", {})), ErrorCode::kInvalidFormat,
               {"__metadata__", "format"});
}

TEST(Safetensors, TruncatedFileOnDiskNamesPathAndTensor) {
  testing::TempDir dir;
  auto bytes = safetensors_bytes(two_tensors());
  bytes.resize(bytes.size() - 3);
  const auto path = dir.path() / "model.safetensors";
  testing::write_bytes(path, bytes);
  expect_error(SafetensorsFile::open(path.string()), ErrorCode::kInvalidFormat, {path.string(), "truncated"});
}

TEST(Safetensors, EmptyAndMissingFiles) {
  testing::TempDir dir;
  testing::write_bytes(dir.path() / "empty.safetensors", {});
  expect_error(SafetensorsFile::open((dir.path() / "empty.safetensors").string()), ErrorCode::kInvalidFormat,
               {"empty.safetensors", "too short"});
  expect_error(SafetensorsFile::open((dir.path() / "absent.safetensors").string()), ErrorCode::kNotFound,
               {"absent.safetensors"});
  expect_error(SafetensorsFile::open(dir.path().string()), ErrorCode::kInvalidArgument, {"not a regular file"});
}

TEST(Safetensors, ViewReadsDataInPlace) {
  testing::TempDir dir;
  const auto path = dir.path() / "t.safetensors";
  testing::write_bytes(path, safetensors_bytes(two_tensors()));
  auto file = SafetensorsFile::open(path.string());
  ASSERT_TRUE(file.ok()) << file.error().to_string();
  auto view = (*file)->view(*(*file)->find("a.weight"));
  ASSERT_TRUE(view.ok()) << view.error().to_string();
  EXPECT_EQ(view->shape_string(), "[2, 3]");
  EXPECT_EQ(static_cast<const float*>(view->data)[5], 6.0f);
}

TEST(Safetensors, ViewRejectsUnsupportedDtypeAndMisalignment) {
  testing::TempDir dir;
  const auto path = dir.path() / "t.safetensors";
  // An I64 tensor parses but cannot be computed with; an F32 tensor at byte offset 2 is misaligned.
  const std::string header = R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
                             R"("odd":{"dtype":"F32","shape":[1],"data_offsets":[10,14]}})";
  std::string padded = header;
  while ((8 + padded.size()) % 8 != 0) padded += ' ';
  testing::write_bytes(path, safetensors_bytes_raw(padded, std::vector<std::uint8_t>(16, 0)));
  auto file = SafetensorsFile::open(path.string());
  ASSERT_TRUE(file.ok()) << file.error().to_string();
  expect_error((*file)->view(*(*file)->find("ids")), ErrorCode::kUnsupported, {path.string(), "'ids'", "I64"});
  expect_error((*file)->view(*(*file)->find("odd")), ErrorCode::kInvalidFormat, {"'odd'", "multiple"});
}

TEST(SafetensorsIndex, ParsesWeightMap) {
  auto map = parse_safetensors_index(
      R"({"metadata":{"total_size":12},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})",
      "index.json");
  ASSERT_TRUE(map.ok()) << map.error().to_string();
  EXPECT_EQ(map->at("b"), "model-00002-of-00002.safetensors");
}

TEST(SafetensorsIndex, RejectsMalformedIndexes) {
  expect_error(parse_safetensors_index("{", "index.json"), ErrorCode::kInvalidFormat, {"index.json", "invalid JSON"});
  expect_error(parse_safetensors_index(R"({"metadata":{}})", "index.json"), ErrorCode::kInvalidFormat,
               {"weight_map"});
  expect_error(parse_safetensors_index(R"({"weight_map":{"a":3}})", "index.json"), ErrorCode::kInvalidFormat,
               {"'a'"});
  expect_error(parse_safetensors_index(R"({"weight_map":{}})", "index.json"), ErrorCode::kInvalidFormat,
               {"no tensors"});
  for (const char* shard : {"../secret.safetensors", "/etc/passwd", "sub/dir.safetensors", "..", ""}) {
    const std::string text = std::string(R"({"weight_map":{"a":")") + shard + "\"}}";
    expect_error(parse_safetensors_index(text, "index.json"), ErrorCode::kInvalidFormat, {"'a'", "plain file name"});
  }
}

TEST(SafetensorsModel, LoadsShardsThroughIndex) {
  testing::TempDir dir;
  testing::write_bytes(dir.path() / "s1.safetensors", safetensors_bytes({two_tensors()[0]}));
  testing::write_bytes(dir.path() / "s2.safetensors", safetensors_bytes({two_tensors()[1]}));
  testing::write_text(dir.path() / "model.safetensors.index.json",
                      R"({"weight_map":{"a.weight":"s1.safetensors","b.bias":"s2.safetensors"}})");
  auto model = SafetensorsModel::open_folder(dir.path().string());
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  EXPECT_TRUE(model->contains("b.bias"));
  auto view = model->view("b.bias");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(static_cast<const float*>(view->data)[1], 8.0f);
  EXPECT_NE(model->file_of("b.bias").find("s2.safetensors"), std::string::npos);
  expect_error(model->view("c"), ErrorCode::kNotFound, {"'c'"});
}

TEST(SafetensorsModel, ReportsBrokenShards) {
  testing::TempDir dir;
  testing::write_bytes(dir.path() / "s1.safetensors", safetensors_bytes({two_tensors()[0]}));
  // The index names a tensor the shard lacks.
  testing::write_text(dir.path() / "model.safetensors.index.json",
                      R"({"weight_map":{"a.weight":"s1.safetensors","b.bias":"s1.safetensors"}})");
  expect_error(SafetensorsModel::open_folder(dir.path().string()), ErrorCode::kInvalidFormat,
               {"'b.bias'", "s1.safetensors", "does not contain"});
  // The index names a shard that does not exist.
  testing::write_text(dir.path() / "model.safetensors.index.json",
                      R"({"weight_map":{"a.weight":"s1.safetensors","b.bias":"s9.safetensors"}})");
  expect_error(SafetensorsModel::open_folder(dir.path().string()), ErrorCode::kNotFound,
               {"s9.safetensors", "model.safetensors.index.json"});
  // A truncated shard.
  auto bytes = safetensors_bytes({two_tensors()[1]});
  bytes.resize(bytes.size() - 1);
  testing::write_bytes(dir.path() / "s9.safetensors", bytes);
  expect_error(SafetensorsModel::open_folder(dir.path().string()), ErrorCode::kInvalidFormat,
               {"s9.safetensors", "truncated"});
}

TEST(SafetensorsModel, FolderWithoutWeights) {
  testing::TempDir dir;
  expect_error(SafetensorsModel::open_folder(dir.path().string()), ErrorCode::kNotFound,
               {"model.safetensors", dir.path().string()});
}

}  // namespace
}  // namespace glimpse
