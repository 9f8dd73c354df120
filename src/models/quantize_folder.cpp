#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "glimpse/kernels.h"
#include "glimpse/quant.h"
#include "glimpse/quantize.h"
#include "glimpse/safetensors.h"
#include "glimpse/thread_pool.h"

namespace glimpse {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLinearSuffixes[] = {
    ".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
    ".self_attn.o_proj.weight", ".mlp.gate_proj.weight",    ".mlp.up_proj.weight",
    ".mlp.down_proj.weight",
};

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct PlannedTensor {
  std::string name;
  TensorView source;
  DType stored;  // the type written
  std::size_t bytes = 0;
};

Status io_error(const std::string& path, const std::string& what) {
  return make_error(ErrorCode::kIoError, path + ": " + what);
}

// Writes one shard: the header, then each tensor's bytes in order.
Status write_shard(const std::string& path, const std::vector<const PlannedTensor*>& tensors, ThreadPool& pool) {
  nlohmann::json header = nlohmann::json::object();
  nlohmann::json quantized = nlohmann::json::object();
  std::size_t offset = 0;
  for (const PlannedTensor* tensor : tensors) {
    nlohmann::json entry;
    if (dtype_is_quantized(tensor->stored)) {
      entry["dtype"] = "U8";
      entry["shape"] = {tensor->bytes};
      nlohmann::json shape = nlohmann::json::array();
      for (int axis = 0; axis < tensor->source.rank; ++axis) shape.push_back(tensor->source.dim(axis));
      quantized[tensor->name] = {{"dtype", std::string(dtype_name(tensor->stored))}, {"shape", shape}};
    } else {
      entry["dtype"] = std::string(dtype_name(tensor->stored));
      nlohmann::json shape = nlohmann::json::array();
      for (int axis = 0; axis < tensor->source.rank; ++axis) shape.push_back(tensor->source.dim(axis));
      entry["shape"] = shape;
    }
    entry["data_offsets"] = {offset, offset + tensor->bytes};
    offset += tensor->bytes;
    header[tensor->name] = entry;
  }
  header["__metadata__"] = {{"format", "pt"}, {std::string(kQuantizedMetadataKey), quantized.dump()}};
  std::string text = header.dump();
  // Pad the header with spaces so the data section starts 32-byte aligned.
  while ((8 + text.size()) % 32 != 0) text.push_back(' ');

  const std::string partial = path + ".partial";
  std::ofstream out(partial, std::ios::binary | std::ios::trunc);
  if (!out) return io_error(partial, "cannot create the file; check the folder's permissions");
  std::uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(length), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  std::vector<std::uint8_t> buffer;
  for (const PlannedTensor* tensor : tensors) {
    if (dtype_is_quantized(tensor->stored)) {
      buffer.resize(tensor->bytes);
      kernels::quantize_weight(pool, tensor->source, tensor->stored, buffer.data());
      out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    } else {
      out.write(static_cast<const char*>(tensor->source.data), static_cast<std::streamsize>(tensor->bytes));
    }
    if (!out) return io_error(partial, "write failed (is the disk full?)");
  }
  out.close();
  if (!out) return io_error(partial, "write failed when closing the file (is the disk full?)");
  std::error_code ec;
  fs::rename(partial, path, ec);
  if (ec) return io_error(path, "cannot rename the finished file into place: " + ec.message());
  return {};
}

}  // namespace

bool is_quantized_language_weight(const std::string& name) {
  if (name == "lm_head.weight" || name == "language_model.lm_head.weight") return true;
  if (name.find("language_model.") == std::string::npos) return false;
  return std::any_of(std::begin(kLinearSuffixes), std::end(kLinearSuffixes),
                     [&](const char* suffix) { return ends_with(name, suffix); });
}

Status quantize_model_folder(const std::string& source_folder, const std::string& target_folder, DType type,
                             ThreadPool& pool, QuantizeFolderReport& report, std::size_t shard_bytes) {
  if (!dtype_is_quantized(type)) {
    return make_error(ErrorCode::kInvalidArgument, "cannot quantize to " + std::string(dtype_name(type)) +
                                                       "; the quantization types are Q8_0, Q4_0, Q4_K and Q6_K");
  }
  std::error_code ec;
  if (!fs::is_directory(source_folder, ec)) {
    return make_error(ErrorCode::kNotFound, "model folder '" + source_folder + "' does not exist or is not a directory");
  }
  if (fs::exists(target_folder, ec) && !(fs::is_directory(target_folder, ec) && fs::is_empty(target_folder, ec))) {
    return make_error(ErrorCode::kInvalidArgument, "output folder '" + target_folder +
                                                       "' already exists and is not empty; name a new folder");
  }
  if (fs::equivalent(source_folder, target_folder, ec)) {
    return make_error(ErrorCode::kInvalidArgument, "the output folder is the model folder; name a new folder");
  }
  GLIMPSE_ASSIGN_OR_RETURN(const SafetensorsModel model, SafetensorsModel::open_folder(source_folder));

  // Plan every tensor: f32 first, then 2-byte types, then the U8 block arrays, so each tensor's
  // offset is a multiple of its element size without padding between tensors.
  std::vector<PlannedTensor> planned;
  for (const std::string& name : model.names()) {
    GLIMPSE_ASSIGN_OR_RETURN(const TensorView view, model.view(name));
    PlannedTensor tensor{name, view, view.dtype, view.nbytes()};
    if (is_quantized_language_weight(name)) {
      if (dtype_is_quantized(view.dtype)) {
        return make_error(ErrorCode::kInvalidArgument, model.file_of(name) + ": tensor '" + name + "' is already " +
                                                           std::string(dtype_name(view.dtype)) +
                                                           "; quantize a folder of F32, F16 or BF16 weights");
      }
      if (view.rank == 2 && view.dim(1) % dtype_info(type).block == 0) {
        tensor.stored = type;
        tensor.bytes = dtype_bytes(type, view.numel());
      }
    }
    planned.push_back(tensor);
  }
  auto order = [](DType dtype) { return dtype == DType::kF32 ? 0 : dtype_is_quantized(dtype) ? 2 : 1; };
  std::stable_sort(planned.begin(), planned.end(),
                   [&](const PlannedTensor& a, const PlannedTensor& b) { return order(a.stored) < order(b.stored); });

  // Split into shards.
  std::vector<std::vector<const PlannedTensor*>> shards(1);
  std::size_t shard_size = 0;
  for (const PlannedTensor& tensor : planned) {
    if (shard_size > 0 && shard_size + tensor.bytes > shard_bytes) {
      shards.emplace_back();
      shard_size = 0;
    }
    shards.back().push_back(&tensor);
    shard_size += tensor.bytes;
  }

  fs::create_directories(target_folder, ec);
  if (ec) return io_error(target_folder, "cannot create the folder: " + ec.message());
  nlohmann::json weight_map = nlohmann::json::object();
  for (std::size_t s = 0; s < shards.size(); ++s) {
    char file_name[64];
    if (shards.size() == 1) {
      std::snprintf(file_name, sizeof(file_name), "model.safetensors");
    } else {
      std::snprintf(file_name, sizeof(file_name), "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    }
    GLIMPSE_RETURN_IF_ERROR(write_shard((fs::path(target_folder) / file_name).string(), shards[s], pool));
    for (const PlannedTensor* tensor : shards[s]) weight_map[tensor->name] = file_name;
  }
  std::size_t total = 0;
  for (const PlannedTensor& tensor : planned) {
    total += tensor.bytes;
    if (dtype_is_quantized(tensor.stored)) {
      ++report.n_quantized;
      report.bytes_before += tensor.source.nbytes();
      report.bytes_after += tensor.bytes;
    } else {
      ++report.n_copied;
    }
  }
  report.n_shards = static_cast<int>(shards.size());
  if (shards.size() > 1) {
    const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    const std::string path = (fs::path(target_folder) / "model.safetensors.index.json").string();
    std::ofstream out(path, std::ios::trunc);
    out << index.dump(2) << "\n";
    if (!out) return io_error(path, "write failed (is the disk full?)");
  }

  // Copy the other files of the folder (config, tokenizer, preprocessor, chat template).
  for (const auto& item : fs::directory_iterator(source_folder, ec)) {
    const std::string file = item.path().filename().string();
    if (!item.is_regular_file() || ends_with(file, ".safetensors") || file == "model.safetensors.index.json") continue;
    fs::copy_file(item.path(), fs::path(target_folder) / file, fs::copy_options::overwrite_existing, ec);
    if (ec) return io_error(item.path().string(), "cannot copy to the output folder: " + ec.message());
  }
  if (ec) return io_error(source_folder, "cannot list the folder: " + ec.message());
  return {};
}

}  // namespace glimpse
