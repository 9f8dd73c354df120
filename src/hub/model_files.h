// Selection of the repository files a llava-hf model needs, from the Hub's file list when online
// and from the snapshot folder when offline.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "glimpse/status.h"

namespace glimpse::hub {

inline constexpr const char* kSafetensorsIndexFile = "model.safetensors.index.json";
inline constexpr const char* kSafetensorsFile = "model.safetensors";

// Files without which glimpse cannot run a safetensors model.
const std::vector<std::string>& required_model_files();
// Files that are downloaded when the repository has them.
const std::vector<std::string>& optional_model_files();

struct FileSelection {
  std::vector<std::string> files;  // in download order; contains the index when `sharded`
  bool sharded = false;            // the shards named by the index still have to be added
};

// Chooses the files to download from `repo_files`, the repository's file list. `gguf_files`
// replaces the safetensors weights when non-empty. `repo_label` names the repository in errors.
Result<FileSelection> select_model_files(const std::set<std::string>& repo_files,
                                         const std::vector<std::string>& gguf_files, const std::string& repo_label);

// The shard files named by the safetensors index at `index_path`, sorted and without duplicates.
// When `repo_files` is given, each shard must be in it.
Result<std::vector<std::string>> shard_files(const std::filesystem::path& index_path,
                                             const std::set<std::string>* repo_files, const std::string& repo_label);

struct SnapshotContents {
  std::vector<std::string> present;  // files the model uses that the snapshot has, sorted
  std::vector<std::string> missing;  // required files it lacks
};

// Checks a snapshot folder without the network, following its links: the required files, the
// weights (index and every shard, or model.safetensors, or the GGUF files) and the optional files
// that exist. A dangling link counts as missing.
Result<SnapshotContents> inspect_snapshot(const std::filesystem::path& snapshot_dir,
                                          const std::vector<std::string>& gguf_files);

}  // namespace glimpse::hub
