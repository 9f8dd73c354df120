#include "hub/model_files.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "glimpse/safetensors.h"
#include "hub/names.h"

namespace glimpse::hub {
namespace fs = std::filesystem;
namespace {

// The largest safetensors index glimpse reads. Real ones are a few hundred kilobytes.
constexpr std::uintmax_t kMaxIndexBytes = 64u << 20;

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// File names in `repo_files` ending with `suffix`, for error messages.
std::vector<std::string> files_with_suffix(const std::set<std::string>& repo_files, const std::string& suffix) {
  std::vector<std::string> found;
  for (const std::string& name : repo_files) {
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      found.push_back(name);
    }
  }
  return found;
}

bool file_exists(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);  // follows symbolic links
}

Status add_weight_files(const std::set<std::string>& repo_files, const std::vector<std::string>& gguf_files,
                        const std::string& repo_label, FileSelection& selection) {
  if (!gguf_files.empty()) {
    for (const std::string& name : gguf_files) {
      GLIMPSE_RETURN_IF_ERROR(validate_repo_file_path(name));
      if (repo_files.count(name) == 0) {
        const std::vector<std::string> available = files_with_suffix(repo_files, ".gguf");
        return make_error(ErrorCode::kNotFound,
                          "'" + name + "' is not a file of " + repo_label + "; its GGUF files are: " +
                              (available.empty() ? "none" : join(available)));
      }
      selection.files.push_back(name);
    }
    return {};
  }
  if (repo_files.count(kSafetensorsIndexFile) != 0) {
    selection.files.push_back(kSafetensorsIndexFile);
    selection.sharded = true;
    return {};
  }
  if (repo_files.count(kSafetensorsFile) != 0) {
    selection.files.push_back(kSafetensorsFile);
    return {};
  }
  std::vector<std::string> others = files_with_suffix(repo_files, ".safetensors");
  for (const char* suffix : {".bin", ".gguf", ".pt", ".pth"}) {
    for (const std::string& name : files_with_suffix(repo_files, suffix)) others.push_back(name);
  }
  std::string message = repo_label + " has neither " + std::string(kSafetensorsFile) + " nor " +
                        kSafetensorsIndexFile + ", which glimpse loads";
  message += others.empty() ? "; it has no weight files at all" : "; its weight files are: " + join(others);
  message += ". Pick a repository with safetensors weights (the llava-hf ones have them), or name GGUF files to download";
  return make_error(ErrorCode::kNotFound, message);
}

}  // namespace

const std::vector<std::string>& required_model_files() {
  static const std::vector<std::string> files = {"config.json", "tokenizer.json", "preprocessor_config.json"};
  return files;
}

const std::vector<std::string>& optional_model_files() {
  static const std::vector<std::string> files = {
      "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",       "chat_template.json",
      "chat_template.jinja",   "generation_config.json",  "processor_config.json",
  };
  return files;
}

Result<FileSelection> select_model_files(const std::set<std::string>& repo_files,
                                         const std::vector<std::string>& gguf_files, const std::string& repo_label) {
  FileSelection selection;
  std::vector<std::string> missing;
  for (const std::string& name : required_model_files()) {
    if (repo_files.count(name) != 0) {
      selection.files.push_back(name);
    } else if (gguf_files.empty()) {
      missing.push_back(name);
    }
  }
  if (!missing.empty()) {
    return make_error(ErrorCode::kNotFound, repo_label + " lacks " + join(missing) +
                                                ", which a llava-hf model needs; is it a LLaVA model in the "
                                                "Transformers format (such as llava-hf/llava-1.5-7b-hf)?");
  }
  for (const std::string& name : optional_model_files()) {
    if (repo_files.count(name) != 0) selection.files.push_back(name);
  }
  GLIMPSE_RETURN_IF_ERROR(add_weight_files(repo_files, gguf_files, repo_label, selection));
  return selection;
}

Result<std::vector<std::string>> shard_files(const fs::path& index_path, const std::set<std::string>* repo_files,
                                             const std::string& repo_label) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(index_path, ec);
  if (ec) return make_error(ErrorCode::kIoError, "cannot read '" + index_path.string() + "': " + ec.message());
  if (size > kMaxIndexBytes) {
    const std::string index_name = index_path.string();
    return make_error(ErrorCode::kInvalidFormat, "'" + index_name + "' is " + std::to_string(size) +
                                                     " bytes; a safetensors index above " +
                                                     std::to_string(kMaxIndexBytes) + " bytes is rejected");
  }
  std::ifstream in(index_path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) return make_error(ErrorCode::kIoError, "cannot read '" + index_path.string() + "'");
  GLIMPSE_ASSIGN_OR_RETURN(auto weight_map, parse_safetensors_index(text.str(), index_path.string()));

  std::set<std::string> unique;
  for (const auto& [tensor, shard] : weight_map) unique.insert(shard);
  if (unique.empty()) {
    const std::string index_name = index_path.string();
    return make_error(ErrorCode::kInvalidFormat, "'" + index_name + "' names no shard files in weight_map");
  }
  for (const std::string& shard : unique) {
    GLIMPSE_RETURN_IF_ERROR(validate_repo_file_path(shard));
    if (repo_files != nullptr && repo_files->count(shard) == 0) {
      return make_error(ErrorCode::kNotFound, kSafetensorsIndexFile + std::string(" of ") + repo_label +
                                                  " names the shard '" + shard +
                                                  "', which the repository does not have");
    }
  }
  return std::vector<std::string>(unique.begin(), unique.end());
}

Result<SnapshotContents> inspect_snapshot(const fs::path& snapshot_dir, const std::vector<std::string>& gguf_files) {
  SnapshotContents contents;
  const auto check = [&](const std::string& name, bool required) {
    if (file_exists(snapshot_dir / name)) {
      contents.present.push_back(name);
    } else if (required) {
      contents.missing.push_back(name);
    }
  };
  const bool gguf = !gguf_files.empty();
  for (const std::string& name : required_model_files()) check(name, !gguf);
  for (const std::string& name : optional_model_files()) check(name, false);

  if (gguf) {
    for (const std::string& name : gguf_files) {
      GLIMPSE_RETURN_IF_ERROR(validate_repo_file_path(name));
      check(name, true);
    }
  } else if (file_exists(snapshot_dir / kSafetensorsIndexFile)) {
    contents.present.push_back(kSafetensorsIndexFile);
    GLIMPSE_ASSIGN_OR_RETURN(std::vector<std::string> shards,
                             shard_files(snapshot_dir / kSafetensorsIndexFile, nullptr, snapshot_dir.string()));
    for (const std::string& shard : shards) check(shard, true);
  } else {
    check(kSafetensorsFile, true);
  }
  std::sort(contents.present.begin(), contents.present.end());
  return contents;
}

}  // namespace glimpse::hub
