// `glimpse pull`: downloads a model from the Hugging Face Hub into the cache without running it.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "glimpse/hub.h"
#include "hub/progress.h"

namespace glimpse::cli {
namespace {

struct PullArgs {
  std::string model;
  std::string revision;
  std::string cache_dir;
  std::vector<std::string> gguf_files;
  bool offline = false;
  bool quiet = false;
};

int run_pull(const PullArgs& args) {
  auto reference = parse_model_reference(args.model);
  if (!reference.ok()) return report(reference.error());
  if (!args.revision.empty()) {
    if (args.model.find('@') != std::string::npos && reference->revision != args.revision) {
      return report(make_error(ErrorCode::kInvalidArgument,
                               "the revision is given twice, as '@" + reference->revision + "' and as --revision " +
                                   args.revision + "; give it once"));
    }
    auto with_revision = parse_model_reference(reference->repo_id + "@" + args.revision);
    if (!with_revision.ok()) return report(with_revision.error());
    reference = std::move(with_revision);
  }

  HubOptions options;
  if (args.offline) options.offline = true;
  if (!args.cache_dir.empty()) options.cache_dir = args.cache_dir;
  options.gguf_files = args.gguf_files;
  if (args.quiet) options.progress = ProgressMode::kNone;

  auto pulled = pull_model(*reference, options);
  if (!pulled.ok()) return report(pulled.error());

  if (!args.quiet) {
    std::string outcome = "from the cache without network access";
    if (pulled->downloaded_bytes > 0) {
      outcome = "downloaded " + hub::format_bytes(pulled->downloaded_bytes);
    } else if (pulled->used_network) {
      outcome = "already complete in the cache";
    }
    const std::string label = reference->repo_id + "@" + reference->revision;
    std::fprintf(stderr, "glimpse: %s is commit %s, %zu files, %s\n", label.c_str(), pulled->commit.c_str(),
                 pulled->files.size(), outcome.c_str());
  }
  // The snapshot folder is the one line on stdout, so scripts can capture it.
  std::printf("%s\n", pulled->snapshot_dir.c_str());
  return kExitOk;
}

}  // namespace

void add_hub_commands(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  (void)global;
  auto args = std::make_shared<PullArgs>();
  auto* pull = app.add_subcommand(
      "pull", "Download a model from the Hugging Face Hub into the Hugging Face cache and print its snapshot folder");
  pull->add_option("model", args->model, "Hub repository id, optionally with a revision: ORG/NAME[@REVISION]")
      ->required();
  pull->add_option("--revision", args->revision, "Branch, tag or commit hash to download (default: main)");
  pull->add_option("--cache-dir", args->cache_dir,
                   "Hub cache folder (default: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)");
  pull->add_option("--gguf", args->gguf_files,
                   "Download this GGUF file of the repository in place of the safetensors weights; repeatable");
  pull->add_flag("--offline", args->offline,
                 "Use only the cache and report what is missing (as HF_HUB_OFFLINE=1 does)");
  pull->add_flag("-q,--quiet", args->quiet, "Print no progress and no summary, only the snapshot folder");
  pull->callback([args, &exit_code] { exit_code = run_pull(*args); });
}

}  // namespace glimpse::cli
