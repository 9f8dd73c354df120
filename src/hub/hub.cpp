// resolve_model() and pull_model(): the cache-only paths (offline mode, a cached commit, the
// fallback when the Hub cannot be reached) and the online path, which resolves the revision,
// chooses the files and downloads what the snapshot lacks.
#include "glimpse/hub.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>

#include "glimpse/log.h"
#include "hub/cache.h"
#include "hub/download.h"
#include "hub/model_files.h"
#include "hub/names.h"
#include "hub/progress.h"
#include "hub/remote.h"
#include "hub/settings.h"

namespace glimpse {
namespace {
namespace fs = std::filesystem;
using namespace glimpse::hub;

std::string label_of(const ModelReference& reference) { return reference.repo_id + "@" + reference.revision; }

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// Resolves the model from the cache alone. `reason` starts the error message, such as "offline mode".
Result<PulledModel> pull_from_cache(const ModelReference& reference, const RepoCache& cache,
                                    const HubOptions& options, const std::string& reason) {
  const std::string retry = "Run `glimpse pull " + label_of(reference) + "` with network access";
  std::string commit = reference.revision;
  if (!is_commit_hash(commit)) {
    GLIMPSE_ASSIGN_OR_RETURN(std::optional<std::string> ref, cache.read_ref(reference.revision));
    if (!ref) {
      return make_error(ErrorCode::kNotFound,
                        reason + ": '" + reference.repo_id + "' at revision '" + reference.revision +
                            "' is not in the cache '" + cache.cache_dir().string() + "' (there is no '" +
                            cache.ref_path(reference.revision).string() + "'). " + retry + " first");
    }
    commit = *ref;
  }
  const fs::path snapshot = cache.snapshot_dir(commit);
  GLIMPSE_ASSIGN_OR_RETURN(SnapshotContents contents, inspect_snapshot(snapshot, options.gguf_files));
  if (!contents.missing.empty()) {
    return make_error(ErrorCode::kNotFound, reason + ": the cached snapshot '" + snapshot.string() + "' of '" +
                                                reference.repo_id + "' lacks " + join(contents.missing) + ". " +
                                                retry + " to complete it");
  }
  PulledModel model;
  model.snapshot_dir = snapshot.string();
  model.repo_id = reference.repo_id;
  model.revision = reference.revision;
  model.commit = commit;
  model.files = std::move(contents.present);
  return model;
}

ProgressMode resolve_progress_mode(const HubOptions& options, const HubSettings& settings) {
  if (options.progress != ProgressMode::kAuto) return options.progress;
  if (settings.progress_disabled_by_environment) return ProgressMode::kNone;
  return isatty(STDERR_FILENO) ? ProgressMode::kBar : ProgressMode::kLines;
}

void write_to_stderr(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

// Warns when the disk holding the cache has less free space than the batch needs. Only a
// warning, as in huggingface_hub, because quotas and compression make the number uncertain.
void warn_when_disk_is_short(const RepoCache& cache, std::uint64_t needed) {
  struct statvfs info {};
  if (statvfs(cache.repo_dir().c_str(), &info) != 0) return;
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
  if (free_bytes < needed) {
    log_message(LogLevel::kWarning, "the download needs " + format_bytes(needed) + " but '" +
                                        cache.cache_dir().string() + "' has " + format_bytes(free_bytes) + " free");
  }
}

class OnlinePull {
 public:
  OnlinePull(const ModelReference& reference, const HubOptions& options, const HubSettings& settings,
             const RepoCache& cache, HttpClient& client, ProgressTracker& tracker)
      : reference_(reference),
        options_(options),
        cache_(cache),
        remote_(client, settings, options, reference),
        downloader_{client, settings, options, cache, remote_, tracker},
        tracker_(tracker) {}

  HubRemote& remote() { return remote_; }

  // Downloads the model files of `info.commit` that the snapshot lacks.
  Result<PulledModel> run(const RepoInfo& info) {
    const std::string& commit = info.commit;
    if (reference_.revision != commit) {
      GLIMPSE_RETURN_IF_ERROR(cache_.write_ref(reference_.revision, commit));
    }
    GLIMPSE_ASSIGN_OR_RETURN(FileSelection selection,
                             select_model_files(info.files, options_.gguf_files, "'" + reference_.repo_id + "'"));
    std::vector<std::string> files = selection.files;
    if (selection.sharded) {
      // The index must be on disk before its shards are known.
      GLIMPSE_RETURN_IF_ERROR(ensure_files(commit, {kSafetensorsIndexFile}));
      GLIMPSE_ASSIGN_OR_RETURN(std::vector<std::string> shards,
                               shard_files(cache_.pointer_path(commit, kSafetensorsIndexFile), &info.files,
                                           "'" + reference_.repo_id + "'"));
      files.insert(files.end(), shards.begin(), shards.end());
    }
    GLIMPSE_RETURN_IF_ERROR(ensure_files(commit, files));

    PulledModel model;
    model.snapshot_dir = cache_.snapshot_dir(commit).string();
    model.repo_id = reference_.repo_id;
    model.revision = reference_.revision;
    model.commit = commit;
    model.files = files;
    std::sort(model.files.begin(), model.files.end());
    model.downloaded_bytes = downloader_.downloaded_bytes;
    model.used_network = true;
    return model;
  }

 private:
  // Links every file of `files` into the snapshot, downloading the blobs the cache lacks.
  Status ensure_files(const std::string& commit, const std::vector<std::string>& files) {
    std::vector<RemoteFile> to_download;
    std::error_code ec;
    for (const std::string& file : files) {
      if (fs::exists(cache_.pointer_path(commit, file), ec)) continue;
      GLIMPSE_ASSIGN_OR_RETURN(RemoteFile remote_file, remote_.fetch_file_metadata(commit, file));
      if (fs::exists(cache_.blob_path(remote_file.etag), ec)) {
        // Another revision or another tool already stored this content.
        GLIMPSE_RETURN_IF_ERROR(cache_.link_pointer(commit, file, remote_file.etag));
        continue;
      }
      to_download.push_back(std::move(remote_file));
    }
    if (to_download.empty()) return {};

    std::uint64_t total = 0;
    for (const RemoteFile& file : to_download) total += file.size;
    GLIMPSE_RETURN_IF_ERROR(cache_.prepare_for_download());
    warn_when_disk_is_short(cache_, total);
    tracker_.begin_batch(label_of(reference_), to_download.size(), total);
    for (const RemoteFile& file : to_download) {
      Status downloaded = downloader_.download(file);
      if (downloaded.ok()) downloaded = cache_.link_pointer(commit, file.path, file.etag);
      if (!downloaded.ok()) {
        tracker_.end_batch();
        return downloaded;
      }
    }
    tracker_.end_batch();
    return {};
  }

  const ModelReference& reference_;
  const HubOptions& options_;
  const RepoCache& cache_;
  HubRemote remote_;
  BlobDownloader downloader_;
  ProgressTracker& tracker_;
};

Result<PulledModel> pull_with_settings(const ModelReference& reference, const HubOptions& options,
                                       const HubSettings& settings) {
  const RepoCache cache(settings.cache_dir, reference.repo_id);
  if (settings.offline) {
    return pull_from_cache(reference, cache, options, "offline mode (--offline, HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)");
  }
  if (is_commit_hash(reference.revision)) {
    // A commit never changes, so a complete snapshot of it needs no network.
    auto cached = pull_from_cache(reference, cache, options, "cache");
    if (cached.ok()) return cached;
  }

  ProgressRenderer renderer(resolve_progress_mode(options, settings), options.progress_interval_seconds,
                            write_to_stderr, options.on_progress);
  ProgressTracker tracker(renderer);
  GLIMPSE_ASSIGN_OR_RETURN(HttpClient client, HttpClient::create());
  OnlinePull pull(reference, options, settings, cache, client, tracker);

  // As in huggingface_hub, the first failure is checked against the cache before any retry, so
  // a cached model stays usable at once when the Hub is unreachable.
  HubRemote::InfoFailure failure;
  auto info = pull.remote().fetch_repo_info(1, failure);
  if (!info.ok() && failure.cache_may_answer) {
    auto cached = pull_from_cache(reference, cache, options, "cache");
    if (cached.ok()) {
      log_message(LogLevel::kWarning, info.error().message + ". Using the cached snapshot '" +
                                          cached->snapshot_dir + "' instead");
      return cached;
    }
  }
  if (!info.ok() && failure.transient && options.max_retries > 0) {
    info = pull.remote().fetch_repo_info(options.max_retries + 1, failure);
  }
  if (!info.ok()) return info.take_error();
  log_message(LogLevel::kInfo, label_of(reference) + " is commit " + info->commit);
  return pull.run(*info);
}

}  // namespace

Result<PulledModel> pull_model(const ModelReference& reference, const HubOptions& options) {
  try {
    GLIMPSE_RETURN_IF_ERROR(validate_repo_id(reference.repo_id));
    GLIMPSE_RETURN_IF_ERROR(validate_revision(reference.revision));
    for (const std::string& name : options.gguf_files) GLIMPSE_RETURN_IF_ERROR(validate_repo_file_path(name));
    GLIMPSE_ASSIGN_OR_RETURN(HubSettings settings, resolve_settings(options, process_environment()));
    auto result = pull_with_settings(reference, options, settings);
    if (!result.ok()) {
      Error error = result.take_error();
      error.message = scrub_token(std::move(error.message), settings.token);
      return error;
    }
    return result;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("downloading from the Hub failed unexpectedly: ") + e.what());
  }
}

Result<std::string> resolve_model(const std::string& model, const HubOptions& options) {
  if (model.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the model is an empty string; expected a model folder or a Hub id "
                                                   "such as 'llava-hf/llava-1.5-7b-hf'");
  }
  std::error_code ec;
  if (fs::exists(model, ec)) return model;
  auto reference = parse_model_reference(model);
  if (!reference.ok()) {
    return make_error(ErrorCode::kNotFound, "'" + model + "' is neither an existing file or folder nor a Hub id (" +
                                                reference.error().message + ")");
  }
  GLIMPSE_ASSIGN_OR_RETURN(PulledModel pulled, pull_model(*reference, options));
  return pulled.snapshot_dir;
}

Result<std::string> default_hub_cache_dir() {
  try {
    return hub::hub_cache_dir(hub::process_environment());
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("finding the hub cache folder failed: ") + e.what());
  }
}

}  // namespace glimpse
