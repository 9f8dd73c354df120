// Model download from the Hugging Face Hub into the standard Hugging Face cache.
//
// A model is named by a local path or by a Hub repository id, `org/name` with an optional
// `@revision` (a branch, a tag or a commit hash). Files are stored the way huggingface_hub stores
// them, so each tool can use a cache written by the other:
//
//   <cache>/models--org--name/
//     blobs/<etag>                       file content, named by its sha256 (LFS files) or by its
//                                        git blob id (other files)
//     refs/<revision>                    the commit hash a branch or tag resolved to, no newline
//     snapshots/<commit>/<file>          relative symbolic link to ../../blobs/<etag>
//   <cache>/.locks/models--org--name/<etag>.lock   flock(2) lock held while a blob is written
//
// Downloads go to blobs/<etag>.incomplete, resume from its length with a Range request, are
// checked against the size and checksum the Hub announces, and are renamed into place only after
// both match. A partial or corrupt file is therefore never visible under its final name.
//
// Every function here returns errors as values; none throws. A token never appears in an error
// message or a log line.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/status.h"

namespace glimpse {

// `org/name[@revision]` split into its parts.
struct ModelReference {
  std::string repo_id;              // "llava-hf/llava-1.5-7b-hf"
  std::string revision = "main";    // a branch, a tag or a 40-hex commit hash
};

// Parses `org/name` or `org/name@revision`. Both parts follow the Hub's naming rules: letters,
// digits, '-', '_' and '.', no "--" or "..", at most 96 characters. A revision may contain '/'
// (for example "refs/pr/1") but no empty, "." or ".." component.
Result<ModelReference> parse_model_reference(std::string_view text);

// The cache folder name of a model repository: "llava-hf/llava-1.5-7b-hf" becomes
// "models--llava-hf--llava-1.5-7b-hf", as huggingface_hub's repo_folder_name() writes it.
std::string repo_folder_name(std::string_view repo_id);

// Progress of a download, as passed to HubOptions::on_progress. Byte counts cover the files this
// call downloads, not the ones already in the cache.
struct DownloadProgress {
  std::string file;                      // repository path of the file being transferred
  std::uint64_t file_bytes = 0;          // bytes of `file` on disk so far, resumed bytes included
  std::uint64_t file_size = 0;           // size of `file` announced by the Hub
  std::uint64_t total_bytes = 0;         // bytes of every file to download, on disk so far
  std::uint64_t total_size = 0;          // size of every file to download
  std::uint64_t resumed_bytes = 0;       // bytes found in .incomplete files and not downloaded again
  double elapsed_seconds = 0;            // since the first transfer started
  bool file_done = false;                // `file` is complete, verified and renamed into place
};

enum class ProgressMode {
  kAuto,   // kBar when stderr is a terminal, otherwise kLines; kNone with HF_HUB_DISABLE_PROGRESS_BARS=1
  kBar,    // one line redrawn in place on stderr: bytes, percent, rate, ETA
  kLines,  // a plain line on stderr every `progress_interval_seconds` and when a file completes
  kNone,   // nothing
};

// Settings of one resolve. An unset optional takes its value from the environment, with the
// variables and precedence of huggingface_hub; a set one wins over the environment.
struct HubOptions {
  // Base URL of the Hub or a mirror. Unset: HF_ENDPOINT, else "https://huggingface.co".
  std::optional<std::string> endpoint;
  // The hub cache folder (the one holding models--* folders). Unset: HF_HUB_CACHE, else
  // HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, where HF_HOME defaults to
  // $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface. A leading "~" is expanded.
  std::optional<std::string> cache_dir;
  // Bearer token for gated and private repositories; an empty string sends none. Unset: HF_TOKEN,
  // else HUGGING_FACE_HUB_TOKEN, else the token file huggingface_hub's login writes
  // ($HF_TOKEN_PATH, default $HF_HOME/token).
  std::optional<std::string> token;
  // Use the cache only and never touch the network. Unset: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE
  // set to 1, ON, YES or TRUE (any case).
  std::optional<bool> offline;
  // Seconds to wait for a metadata request (repository info, file headers) to complete. Unset:
  // HF_HUB_ETAG_TIMEOUT, else 10.
  std::optional<double> request_timeout_seconds;
  // Seconds without a single received byte after which a file transfer is aborted (and retried
  // from where it stopped), checked about once per second. Unset: HF_HUB_DOWNLOAD_TIMEOUT, else 10.
  std::optional<double> stall_timeout_seconds;
  double connect_timeout_seconds = 10;

  // Retries after a failed transfer or a 408, 429 or 5xx response. The count starts over whenever
  // a transfer makes progress. A refused connection or an unknown host is retried at most twice,
  // since it rarely heals within seconds.
  int max_retries = 5;
  // Wait before the first retry, doubled on each following one (capped at 8 s).
  double retry_delay_seconds = 1.0;
  // Seconds between "still waiting" log lines while another process holds a blob's lock.
  double lock_log_interval_seconds = 10;

  // GGUF files to download in place of safetensors weights. When non-empty, config.json and the
  // tokenizer and processor files are downloaded when the repository has them but none is
  // required.
  std::vector<std::string> gguf_files;

  ProgressMode progress = ProgressMode::kAuto;
  double progress_interval_seconds = 5;  // kLines only
  // Called on every progress update, in addition to the rendering chosen by `progress`, from the
  // thread that called resolve_model() or pull_model().
  std::function<void(const DownloadProgress&)> on_progress;
};

// The outcome of pull_model().
struct PulledModel {
  std::string snapshot_dir;        // <cache>/models--org--name/snapshots/<commit>
  std::string repo_id;
  std::string revision;            // as requested
  std::string commit;              // the commit hash the revision resolved to
  std::vector<std::string> files;  // repository paths present in snapshot_dir, sorted
  std::uint64_t downloaded_bytes = 0;  // received over the network by this call
  bool used_network = false;       // false when the cache alone served the request (offline, commit hash or fallback)
};

// Downloads what a llava-hf model needs into the cache and returns where it lies:
//   - required: config.json, tokenizer.json, preprocessor_config.json, and the weights, which are
//     model.safetensors.index.json with every shard it names when the repository has an index,
//     else model.safetensors (or the files in `options.gguf_files`);
//   - when the repository has them: tokenizer_config.json, special_tokens_map.json,
//     added_tokens.json, chat_template.json, chat_template.jinja, generation_config.json and
//     processor_config.json.
// A file already linked in the snapshot is not downloaded again, and a commit-hash revision whose
// snapshot is complete needs no network at all. When the Hub cannot be reached or refuses the
// request (network failure, 401, 403, 404 for the repository, 5xx), a complete snapshot that the
// cache holds for the revision is used with a warning, as huggingface_hub does.
Result<PulledModel> pull_model(const ModelReference& reference, const HubOptions& options = {});

// Returns `model` unchanged when a file or folder exists at that path (so a local folder wins
// over a Hub id of the same spelling). Otherwise parses it as `org/name[@revision]`, calls
// pull_model() and returns the snapshot folder.
Result<std::string> resolve_model(const std::string& model, const HubOptions& options = {});

// The hub cache folder that an unset HubOptions::cache_dir resolves to in this environment.
Result<std::string> default_hub_cache_dir();

}  // namespace glimpse
