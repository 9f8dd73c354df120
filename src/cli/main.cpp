// The glimpse command: parses global options and dispatches to the subcommands of each module.
#include <cstdio>

#include "cli/commands.h"
#include "glimpse/log.h"
#include "glimpse/quant.h"

namespace glimpse::cli {

int report(const Error& error) {
  std::fprintf(stderr, "glimpse: %s\n", error.to_string().c_str());
  switch (error.code) {
    case ErrorCode::kInternal:
    case ErrorCode::kIoError:
      return kExitInternal;
    default:
      return kExitBadInput;
  }
}

std::optional<DType> quantize_type(const GlobalOptions& global) {
  DType type;
  if (!global.quantize.empty() && parse_quant_type(global.quantize, type)) return type;
  return std::nullopt;
}

void print_load_report(const LoadReport& report) {
  const auto print_copied = [&] {
    if (report.n_copied > 0) {
      std::fprintf(stderr, "; copied %d weights (%.1f MB) into huge-page memory", report.n_copied,
                   static_cast<double>(report.bytes_copied) / 1e6);
    }
  };
  if (!report.quantized) {
    std::fprintf(stderr, "glimpse: kernels %s", report.kernels.c_str());
    if (report.n_repacked > 0) std::fprintf(stderr, "; %d weights interleaved for these kernels", report.n_repacked);
    print_copied();
    std::fprintf(stderr, "\n");
    return;
  }
  std::fprintf(stderr,
               "glimpse: kernels %s; quantized %d language-model weights to %s at load time "
               "(%.1f MB -> %.1f MB) in %.1f s",
               report.kernels.c_str(), report.n_quantized, std::string(dtype_name(*report.quantized)).c_str(),
               static_cast<double>(report.bytes_before) / 1e6, static_cast<double>(report.bytes_after) / 1e6,
               report.seconds);
  if (report.n_kept > 0) {
    std::fprintf(stderr, "; %d kept as stored (rows not a multiple of the %lld-value block)", report.n_kept,
                 static_cast<long long>(dtype_info(*report.quantized).block));
  }
  if (report.n_repacked > 0) std::fprintf(stderr, "; %d interleaved for these kernels", report.n_repacked);
  print_copied();
  std::fprintf(stderr, "\n");
}

}  // namespace glimpse::cli

int main(int argc, char** argv) {
  using namespace glimpse::cli;
  CLI::App app{"glimpse: LLaVA vision-language inference on the CPU"};
  app.require_subcommand(1);
  // Global options such as --threads and --verbose may also follow the subcommand.
  app.fallthrough();
  GlobalOptions global;
  app.add_option("-t,--threads", global.n_threads, "Worker threads; 0 uses one per hardware thread")
      ->default_val(0);
  app.add_option("--quantize", global.quantize,
                 "Quantize the language model's linear weights while loading: q8_0, q4_0, q4_k or "
                 "q6_k (llama.cpp's block formats; the K types take minutes for 7B weights)")
      ->check(CLI::IsMember({"q8_0", "q4_0", "q4_k", "q6_k"}, CLI::ignore_case));
  app.add_flag("--copy-weights", global.copy_weights,
               "Copy the language model's float weights from the file mapping into huge-page memory "
               "while loading: faster decoding where TLB misses are costly (virtual machines); slower "
               "loading, and the copy cannot be paged out");
  app.add_flag("-v,--verbose", global.verbose, "Log informational messages to stderr");
  app.parse_complete_callback([&] {
    if (global.verbose) glimpse::set_log_level(glimpse::LogLevel::kInfo);
  });

  int exit_code = kExitOk;
  add_ask_command(app, global, exit_code);
  add_model_commands(app, global, exit_code);
  add_image_commands(app, global, exit_code);
  add_text_commands(app, global, exit_code);
  add_hub_commands(app, global, exit_code);
  add_bench_command(app, global, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}
