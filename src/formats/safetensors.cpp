#include "glimpse/safetensors.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "formats/json_fields.h"
#include "formats/mapped_file.h"
#include "glimpse/quant.h"

namespace glimpse {
namespace {

struct KnownDType {
  std::string_view name;
  std::size_t size;
  std::optional<DType> dtype;
};

// Every dtype of the safetensors specification with a whole-byte element; glimpse computes
// with the ones that map to a DType and reports the others when a model needs them.
constexpr KnownDType kKnownDTypes[] = {
    {"F64", 8, std::nullopt},  {"F32", 4, DType::kF32},    {"F16", 2, DType::kF16},
    {"BF16", 2, DType::kBF16}, {"I64", 8, std::nullopt},   {"I32", 4, std::nullopt},
    {"I16", 2, std::nullopt},  {"I8", 1, std::nullopt},    {"U64", 8, std::nullopt},
    {"U32", 4, std::nullopt},  {"U16", 2, std::nullopt},   {"U8", 1, std::nullopt},
    {"BOOL", 1, std::nullopt}, {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
};

const KnownDType* find_dtype(std::string_view name) {
  for (const KnownDType& known : kKnownDTypes) {
    if (known.name == name) return &known;
  }
  return nullptr;
}

Error format_error(const std::string& source, const std::string& what) {
  return make_error(ErrorCode::kInvalidFormat, source + ": " + what);
}

Result<std::uint64_t> read_offset(const nlohmann::json& value, const std::string& source,
                                  const std::string& tensor) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<std::int64_t>() >= 0)) {
    return format_error(source, "tensor '" + tensor +
                                    "': data_offsets must hold non-negative integers, found " +
                                    value.dump().substr(0, 40));
  }
  return value.get<std::uint64_t>();
}

Result<SafetensorsEntry> parse_entry(const std::string& name, const nlohmann::json& value,
                                     std::uint64_t data_size, const std::string& source) {
  const std::string where = "tensor '" + name + "'";
  if (!value.is_object()) return format_error(source, where + " must be an object");
  SafetensorsEntry entry;
  entry.name = name;

  // dtype
  const auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) {
    return format_error(source, where + " has no string field 'dtype'");
  }
  entry.dtype_name = dtype_it->get<std::string>();
  const KnownDType* known = find_dtype(entry.dtype_name);
  if (known == nullptr) {
    return format_error(source, where + " has unknown dtype '" + entry.dtype_name.substr(0, 40) + "'");
  }
  entry.dtype = known->dtype;

  // shape, with the element count checked for overflow
  const auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) {
    return format_error(source, where + " has no array field 'shape'");
  }
  std::uint64_t n_bytes = known->size;
  for (const auto& dim : *shape_it) {
    if (!dim.is_number_unsigned() && !(dim.is_number_integer() && dim.get<std::int64_t>() >= 0)) {
      return format_error(source, where + ": shape must hold non-negative integers, found " +
                                      dim.dump().substr(0, 40));
    }
    const std::uint64_t extent = dim.get<std::uint64_t>();
    if (extent > static_cast<std::uint64_t>(INT64_MAX) ||
        __builtin_mul_overflow(n_bytes, extent, &n_bytes)) {
      return format_error(source, where + ": shape " + shape_it->dump().substr(0, 80) +
                                      " overflows a 64-bit byte count");
    }
    entry.shape.push_back(static_cast<std::int64_t>(extent));
  }

  // data_offsets [begin, end) inside the data section, matching the shape's byte count
  const auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
    return format_error(source, where + " has no field 'data_offsets' of two integers");
  }
  GLIMPSE_ASSIGN_OR_RETURN(entry.begin, read_offset((*offsets_it)[0], source, name));
  GLIMPSE_ASSIGN_OR_RETURN(entry.end, read_offset((*offsets_it)[1], source, name));
  if (entry.begin > entry.end || entry.end > data_size) {
    return format_error(source, where + ": data_offsets [" + std::to_string(entry.begin) + ", " +
                                    std::to_string(entry.end) + "] fall outside the " +
                                    std::to_string(data_size) +
                                    "-byte data section (is the file truncated?)");
  }
  if (entry.end - entry.begin != n_bytes) {
    return format_error(source, where + ": shape " + shape_it->dump() + " of " + entry.dtype_name +
                                    " needs " + std::to_string(n_bytes) +
                                    " bytes but data_offsets span " +
                                    std::to_string(entry.end - entry.begin));
  }
  return entry;
}

Status parse_metadata(const nlohmann::json& value, const std::string& source,
                      std::map<std::string, std::string>& metadata) {
  if (!value.is_object()) return format_error(source, "__metadata__ must be an object");
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      return format_error(source, "__metadata__ field '" + key + "' must be a string");
    }
    metadata[key] = item.get<std::string>();
  }
  return {};
}

Status check_no_overlap(std::vector<SafetensorsEntry>& entries, const std::string& source) {
  std::vector<const SafetensorsEntry*> by_offset;
  by_offset.reserve(entries.size());
  for (const auto& entry : entries) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return format_error(source, "tensors '" + by_offset[i - 1]->name + "' and '" +
                                      by_offset[i]->name + "' overlap in the data section");
    }
  }
  return {};
}

// Applies the "glimpse.quantized" metadata field that `glimpse quantize` writes: a JSON object
// mapping tensor names to {"dtype": "Q8_0" or "Q4_0", "shape": [...]}. Such a tensor is stored
// as a U8 byte array, so other safetensors readers still open the file. Here it becomes a view
// of its block type and logical shape.
Status apply_quantized_metadata(SafetensorsHeader& header, const std::string& source) {
  const auto field = header.metadata.find(std::string(kQuantizedMetadataKey));
  if (field == header.metadata.end()) return {};
  const std::string where = "__metadata__ field '" + std::string(kQuantizedMetadataKey) + "'";
  GLIMPSE_ASSIGN_OR_RETURN(const nlohmann::json root, json_fields::parse(field->second, source + " " + where));
  if (!root.is_object()) return format_error(source, where + " must hold a JSON object");
  std::map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < header.entries.size(); ++i) by_name.emplace(header.entries[i].name, i);
  for (const auto& [name, value] : root.items()) {
    const std::string what = where + ": tensor '" + name.substr(0, 200) + "'";
    const auto it = by_name.find(name);
    if (it == by_name.end()) return format_error(source, what + " is not in the file");
    SafetensorsEntry& entry = header.entries[it->second];
    if (!value.is_object()) return format_error(source, what + " must map to an object");
    const auto dtype_it = value.find("dtype");
    const auto shape_it = value.find("shape");
    if (dtype_it == value.end() || !dtype_it->is_string() || shape_it == value.end() ||
        !shape_it->is_array()) {
      return format_error(source, what + " needs a string 'dtype' and an array 'shape'");
    }
    std::optional<DType> dtype;
    for (const DTypeInfo& info : kDTypeTable) {
      // Only the block types of files; Q4_0x16 and Q8_0x16 are in-memory layouts.
      if (is_file_quant_type(info.dtype) && info.name == dtype_it->get<std::string>()) {
        dtype = info.dtype;
      }
    }
    if (!dtype) {
      return format_error(source, what + " has block type '" + dtype_it->dump().substr(0, 40) +
                                      "'; glimpse reads Q8_0, Q4_0, Q4_K and Q6_K");
    }
    if (entry.dtype_name != "U8" || entry.shape.size() != 1) {
      return format_error(source, what + " must be stored as a one-dimensional U8 array");
    }
    if (shape_it->empty() || shape_it->size() > static_cast<std::size_t>(kMaxRank)) {
      return format_error(source, what + " has a shape of rank " + std::to_string(shape_it->size()) +
                                      "; 1 to 4 is supported");
    }
    std::vector<std::int64_t> shape;
    std::int64_t count = 1;
    for (const auto& extent : *shape_it) {
      if (!extent.is_number_unsigned() || extent.get<std::uint64_t>() > (1ull << 40)) {
        return format_error(source, what + " has an invalid extent in its shape " + shape_it->dump().substr(0, 80));
      }
      const auto value_extent = static_cast<std::int64_t>(extent.get<std::uint64_t>());
      if (__builtin_mul_overflow(count, value_extent, &count) || count > (1ll << 40)) {
        return format_error(source, what + " has a shape too large to address");
      }
      shape.push_back(value_extent);
    }
    const std::int64_t block = dtype_info(*dtype).block;
    if (shape.back() % block != 0) {
      return format_error(source, what + ": the last extent of " + shape_it->dump() +
                                      " is not a multiple of the " + std::to_string(block) + "-element block");
    }
    if (entry.end - entry.begin != dtype_bytes(*dtype, count)) {
      return format_error(source, what + " holds " + std::to_string(entry.end - entry.begin) +
                                      " bytes; shape " + shape_it->dump() + " in " +
                                      std::string(dtype_info(*dtype).name) + " needs " +
                                      std::to_string(dtype_bytes(*dtype, count)));
    }
    entry.dtype = dtype;
    entry.dtype_name = std::string(dtype_info(*dtype).name);
    entry.shape = std::move(shape);
  }
  return {};
}

}  // namespace

Result<SafetensorsHeader> parse_safetensors_header(const std::uint8_t* bytes, std::size_t size,
                                                   const std::string& source) {
  if (size < 8) {
    return format_error(source, "file is " + std::to_string(size) +
                                    " bytes, too short for the 8-byte header length");
  }
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return format_error(source, "header length " + std::to_string(header_len) +
                                    " exceeds the 100 MB limit of the format");
  }
  if (header_len > size - 8) {
    return format_error(source, "header length " + std::to_string(header_len) +
                                    " runs past the end of the " + std::to_string(size) +
                                    "-byte file (is the file truncated?)");
  }

  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), header_len);
  GLIMPSE_ASSIGN_OR_RETURN(const nlohmann::json root, json_fields::parse(text, source));
  if (!root.is_object()) return format_error(source, "header must be a JSON object");

  SafetensorsHeader header;
  header.data_offset = 8 + header_len;
  const std::uint64_t data_size = size - header.data_offset;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      GLIMPSE_RETURN_IF_ERROR(parse_metadata(value, source, header.metadata));
      continue;
    }
    GLIMPSE_ASSIGN_OR_RETURN(SafetensorsEntry entry, parse_entry(name, value, data_size, source));
    header.entries.push_back(std::move(entry));
  }
  GLIMPSE_RETURN_IF_ERROR(check_no_overlap(header.entries, source));
  GLIMPSE_RETURN_IF_ERROR(apply_quantized_metadata(header, source));
  return header;
}

Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view json_text,
                                                                   const std::string& source) {
  GLIMPSE_ASSIGN_OR_RETURN(const nlohmann::json root, json_fields::parse(json_text, source));
  if (!root.is_object()) return format_error(source, "index must be a JSON object");
  const auto map_it = root.find("weight_map");
  if (map_it == root.end() || !map_it->is_object()) {
    return format_error(source, "index has no object field 'weight_map'");
  }
  std::map<std::string, std::string> weight_map;
  for (const auto& [name, file] : map_it->items()) {
    if (!file.is_string()) {
      return format_error(source, "weight_map entry '" + name + "' must be a file name string");
    }
    const std::string file_name = file.get<std::string>();
    if (file_name.empty() || file_name == "." || file_name == ".." ||
        file_name.find('/') != std::string::npos || file_name.find('\\') != std::string::npos ||
        file_name.find('\0') != std::string::npos) {
      return format_error(source, "weight_map entry '" + name + "' names shard '" +
                                      file_name.substr(0, 80) +
                                      "', which is not a plain file name in the model folder");
    }
    weight_map[name] = file_name;
  }
  if (weight_map.empty()) return format_error(source, "weight_map lists no tensors");
  return weight_map;
}

// SafetensorsFile

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  GLIMPSE_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
  GLIMPSE_ASSIGN_OR_RETURN(SafetensorsHeader header,
                           parse_safetensors_header(mapped.data(), mapped.size(), path));
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->file_ = std::make_unique<MappedFile>(std::move(mapped));
  file->header_ = std::move(header);
  for (std::size_t i = 0; i < file->header_.entries.size(); ++i) {
    file->index_.emplace(file->header_.entries[i].name, i);
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() = default;

const std::string& SafetensorsFile::path() const { return file_->path(); }

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.entries[it->second];
}

Result<TensorView> SafetensorsFile::view(const SafetensorsEntry& entry) const {
  const std::string where = path() + ": tensor '" + entry.name + "'";
  if (!entry.dtype.has_value()) {
    return make_error(ErrorCode::kUnsupported,
                      where + " has dtype " + entry.dtype_name +
                          "; glimpse computes with F32, F16 and BF16 weights, and Q8_0, Q4_0, Q4_K and Q6_K "
                          "ones written by `glimpse quantize`. Convert the checkpoint to one of those.");
  }
  if (entry.shape.size() > static_cast<std::size_t>(kMaxRank)) {
    return make_error(ErrorCode::kUnsupported, where + " has rank " +
                                                   std::to_string(entry.shape.size()) +
                                                   "; at most 4 is supported");
  }
  TensorView view;
  view.dtype = *entry.dtype;
  view.rank = static_cast<int>(entry.shape.size());
  for (std::size_t axis = 0; axis < entry.shape.size(); ++axis) view.shape[axis] = entry.shape[axis];
  view.data = file_->data() + header_.data_offset + entry.begin;
  // Plain types need their element alignment; block types that of their f16 scale.
  const std::size_t alignment = dtype_is_quantized(view.dtype) ? sizeof(std::uint16_t) : dtype_info(view.dtype).block_bytes;
  if (reinterpret_cast<std::uintptr_t>(view.data) % alignment != 0) {
    return make_error(ErrorCode::kInvalidFormat,
                      where + " starts at a byte offset that is not a multiple of its " +
                          std::to_string(alignment) +
                          "-byte element size; re-save the file with the safetensors library");
  }
  return view;
}

// SafetensorsModel

Result<SafetensorsModel> SafetensorsModel::open_folder(const std::string& folder) {
  namespace fs = std::filesystem;
  SafetensorsModel model;
  model.folder_ = folder;
  const fs::path index_path = fs::path(folder) / "model.safetensors.index.json";
  const fs::path single_path = fs::path(folder) / "model.safetensors";
  std::error_code ec;

  if (fs::exists(index_path, ec)) {
    std::ifstream in(index_path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return make_error(ErrorCode::kIoError, "cannot read '" + index_path.string() + "'");
    GLIMPSE_ASSIGN_OR_RETURN(const auto weight_map,
                             parse_safetensors_index(text.str(), index_path.string()));
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    for (const auto& [name, shard_name] : weight_map) {
      auto& shard = shards[shard_name];
      if (!shard) {
        const fs::path shard_path = fs::path(folder) / shard_name;
        auto opened = SafetensorsFile::open(shard_path.string());
        if (!opened.ok()) {
          Error error = opened.take_error();
          error.message += " (shard listed in " + index_path.string() + ")";
          return error;
        }
        shard = std::move(opened).value();
        model.files_.push_back(shard);
      }
      const SafetensorsEntry* entry = shard->find(name);
      if (entry == nullptr) {
        return make_error(ErrorCode::kInvalidFormat,
                          index_path.string() + " maps tensor '" + name + "' to " + shard_name +
                              ", which does not contain it");
      }
      model.tensors_[name] = Location{shard, entry};
    }
    return model;
  }

  if (!fs::exists(single_path, ec)) {
    return make_error(ErrorCode::kNotFound,
                      "no model.safetensors or model.safetensors.index.json in '" + folder + "'");
  }
  GLIMPSE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(single_path.string()));
  model.files_.push_back(file);
  for (const auto& entry : file->header().entries) model.tensors_[entry.name] = Location{file, &entry};
  return model;
}

bool SafetensorsModel::contains(std::string_view name) const { return tensors_.count(name) > 0; }

Result<TensorView> SafetensorsModel::view(std::string_view name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return make_error(ErrorCode::kNotFound,
                      "tensor '" + std::string(name) + "' is missing from the model in '" + folder_ + "'");
  }
  return it->second.file->view(*it->second.entry);
}

std::string SafetensorsModel::file_of(std::string_view name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? folder_ : it->second.file->path();
}

std::vector<std::string> SafetensorsModel::names() const {
  std::vector<std::string> result;
  result.reserve(tensors_.size());
  for (const auto& [name, location] : tensors_) result.push_back(name);
  return result;
}

std::size_t SafetensorsModel::total_bytes() const {
  std::size_t total = 0;
  for (const auto& file : files_) total += file->header().data_offset;
  for (const auto& [name, location] : tensors_) total += location.entry->end - location.entry->begin;
  return total;
}

}  // namespace glimpse
