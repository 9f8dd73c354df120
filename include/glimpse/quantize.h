// Writes a quantized copy of a llava-hf model folder that loads memory-mapped, without
// quantizing again at load time.
//
// The language model's linear weights (attention, MLP, lm_head) become Q8_0 or Q4_0 in
// llama.cpp's block layout; every other tensor and every non-weight file (config, tokenizer,
// preprocessor, chat template) is copied unchanged. A quantized tensor is stored as a
// one-dimensional U8 array, and the file's __metadata__ field "glimpse.quantized" records its
// block type and logical shape, so standard safetensors readers still open the files.
#pragma once

#include <cstddef>
#include <string>

#include "glimpse/status.h"
#include "glimpse/tensor.h"

namespace glimpse {

class ThreadPool;

struct QuantizeFolderReport {
  int n_quantized = 0;           // tensors written in the block type
  int n_copied = 0;              // tensors copied as stored
  std::size_t bytes_before = 0;  // weight bytes read
  std::size_t bytes_after = 0;   // weight bytes written
  int n_shards = 0;              // safetensors files written
};

// Whether `name` (in either llava-hf naming scheme) is a language-model linear weight that
// quantization converts.
bool is_quantized_language_weight(const std::string& name);

// Reads the model in `source_folder` and writes the quantized copy to `target_folder`, which must
// not exist or be empty. Shards hold at most `shard_bytes` of tensor data each (one tensor may
// exceed it). Files are written under temporary names and renamed when complete.
Status quantize_model_folder(const std::string& source_folder, const std::string& target_folder, DType type,
                             ThreadPool& pool, QuantizeFolderReport& report,
                             std::size_t shard_bytes = std::size_t{4} << 30);

}  // namespace glimpse
