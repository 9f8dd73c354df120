// Subcommands of the glimpse command, grouped by module. Each add_* function registers its
// subcommands on `app`; a subcommand's callback stores the process exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "glimpse/llava.h"
#include "glimpse/status.h"
#include "glimpse/tensor.h"

namespace glimpse::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;  // a bug or an operating-system failure
inline constexpr int kExitUsage = 2;     // invalid command line
inline constexpr int kExitBadInput = 3;  // a model, image, text or value that glimpse rejects

struct GlobalOptions {
  int n_threads = 0;
  bool verbose = false;
  std::string quantize;  // "", "q8_0", "q4_0", "q4_k" or "q6_k" (checked by the option parser)
  bool copy_weights = false;
};

// The block type that --quantize names, or none.
std::optional<DType> quantize_type(const GlobalOptions& global);

// Prints the kernel table and, when weights were quantized at load time, what that did, as one
// line on stderr.
void print_load_report(const LoadReport& report);

// The values of --kv-cache (ask, bench), and the cache element type that each selects.
inline const std::vector<std::string> kKvCacheChoices = {"f32", "f16"};
inline DType kv_cache_dtype(const std::string& choice) { return choice == "f16" ? DType::kF16 : DType::kF32; }
inline constexpr const char* kKvCacheHelp =
    "KV cache element type: f32, or f16 (IEEE half) for half the cache memory, with keys and values rounded "
    "to 11 significant bits";

// Prints "glimpse: <error>" to stderr and returns the exit code for its error code.
int report(const Error& error);

void add_ask_command(CLI::App& app, const GlobalOptions& global, int& exit_code);     // ask
void add_model_commands(CLI::App& app, const GlobalOptions& global, int& exit_code);  // info, generate, quantize
void add_image_commands(CLI::App& app, const GlobalOptions& global, int& exit_code);  // preprocess
void add_text_commands(CLI::App& app, const GlobalOptions& global, int& exit_code);   // tokenize, detokenize
void add_hub_commands(CLI::App& app, const GlobalOptions& global, int& exit_code);    // pull
void add_bench_command(CLI::App& app, const GlobalOptions& global, int& exit_code);   // bench

}  // namespace glimpse::cli
