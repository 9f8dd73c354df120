// Shared helpers for glimpse's tests: data locations, binary readers, the fixtures' float
// tolerance, temporary folders and a safetensors writer for crafted files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace glimpse::testing {

std::filesystem::path test_data_dir();      // tests/data in the source tree
std::filesystem::path shared_fixtures_dir();  // ../shared/fixtures next to the repository
std::filesystem::path variants_dir();       // the generated variant models in the build tree

// Returns an empty string when `path` exists, otherwise a message saying what is missing and
// how to get it; tests pass it to FAIL() so an absent fixture is a failure, not a skip.
std::string missing_fixture_message(const std::filesystem::path& path);

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path);
std::vector<float> read_f32(const std::filesystem::path& path);
std::vector<double> read_f64(const std::filesystem::path& path);
nlohmann::json read_json(const std::filesystem::path& path);

// The float rule of the reference fixtures for float32 computation: |x - ref| <= 1e-4 + 1e-3 |ref|.
inline double float_tolerance(double ref) { return 1e-4 + 1e-3 * (ref < 0 ? -ref : ref); }

// A fresh folder under the system temporary directory, removed with its content on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_bytes(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes);
void write_text(const std::filesystem::path& path, const std::string& text);

struct CraftedTensor {
  std::string name;
  std::string dtype;  // safetensors spelling
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> data;
};

// The bytes of a well-formed safetensors file holding `tensors` in order.
std::vector<std::uint8_t> safetensors_bytes(const std::vector<CraftedTensor>& tensors);
// The bytes of a file with the given header text and data section, valid or not.
std::vector<std::uint8_t> safetensors_bytes_raw(const std::string& header, const std::vector<std::uint8_t>& data);

// float32 values as little-endian bytes.
std::vector<std::uint8_t> f32_bytes(const std::vector<float>& values);

}  // namespace glimpse::testing
