// Subcommands of the hub module.
#include "cli/commands.h"

namespace glimpse::cli {

void add_hub_commands(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  (void)app;
  (void)global;
  (void)exit_code;
}

}  // namespace glimpse::cli
