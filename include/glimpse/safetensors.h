// Memory-mapped safetensors files, single or sharded with model.safetensors.index.json.
//
// Format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the byte after the
// header), an optional "__metadata__" object of strings, then the data. Every offset, size and
// count is checked, including multiplication overflow, before any tensor byte is touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/status.h"
#include "glimpse/tensor.h"

namespace glimpse {

// The __metadata__ field in which `glimpse quantize` records the block type and logical shape of
// each quantized tensor (stored as a U8 array); see parse_safetensors_header.
inline constexpr std::string_view kQuantizedMetadataKey = "glimpse.quantized";

// The safetensors specification caps the JSON header at 100 MB.
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct SafetensorsEntry {
  std::string name;
  std::string dtype_name;       // as written, e.g. "BF16" or "I64"
  std::optional<DType> dtype;   // set when glimpse can compute with this dtype
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;      // byte offsets into the data section
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::uint64_t data_offset = 0;  // 8 + header length
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
};

// Parses and validates the header of a safetensors file held in `bytes`. `source` names the
// file in errors.
Result<SafetensorsHeader> parse_safetensors_header(const std::uint8_t* bytes, std::size_t size,
                                                   const std::string& source);

// Parses model.safetensors.index.json and returns its weight_map as tensor name -> shard file
// name. Shard names must be plain file names (no directories), so a hostile index cannot point
// outside the model folder.
Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view json_text,
                                                                   const std::string& source);

class MappedFile;

// One mapped safetensors file.
class SafetensorsFile {
 public:
  static Result<std::shared_ptr<SafetensorsFile>> open(const std::string& path);
  ~SafetensorsFile();

  const std::string& path() const;
  const SafetensorsHeader& header() const { return header_; }
  const SafetensorsEntry* find(std::string_view name) const;
  // A view of the tensor's bytes in place; an error when its dtype is not one glimpse computes
  // with, its rank is above kMaxRank, or its data is not aligned for its element type.
  Result<TensorView> view(const SafetensorsEntry& entry) const;

 private:
  SafetensorsFile() = default;
  std::unique_ptr<MappedFile> file_;
  SafetensorsHeader header_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

// The tensors of a model folder: model.safetensors.index.json with its shards when the index
// exists, otherwise model.safetensors.
class SafetensorsModel {
 public:
  static Result<SafetensorsModel> open_folder(const std::string& folder);

  bool contains(std::string_view name) const;
  // Looks up a tensor; `source` of the error names the file it was expected in.
  Result<TensorView> view(std::string_view name) const;
  // The file a tensor lives in (for error messages), or the folder when the name is unknown.
  std::string file_of(std::string_view name) const;
  std::vector<std::string> names() const;
  std::size_t total_bytes() const;  // bytes of all mapped files

 private:
  struct Location {
    std::shared_ptr<SafetensorsFile> file;
    const SafetensorsEntry* entry = nullptr;
  };
  std::string folder_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, Location, std::less<>> tensors_;
};

}  // namespace glimpse
