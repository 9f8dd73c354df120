// The glimpse command: parses global options and dispatches to the subcommands of each module.
#include <cstdio>

#include "cli/commands.h"
#include "glimpse/log.h"

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
