// pull_model() and resolve_model() against the mock Hub: complete downloads, the cache layout
// huggingface_hub expects, reuse, resume, checksums, offline mode, tokens, errors, locks.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "glimpse/hub.h"
#include "glimpse/llava.h"
#include "glimpse/safetensors.h"
#include "hub/hub_test_support.h"

namespace glimpse {
namespace {

namespace fs = std::filesystem;
using testing::LogCapture;
using testing::MockHub;
using testing::MockRepo;
using testing::TempDir;
using testing::kTinyRepo;

std::string file_text(const fs::path& path) {
  const std::vector<std::uint8_t> bytes = testing::read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

fs::path repo_dir(const HubOptions& options, const std::string& repo_id = kTinyRepo) {
  return fs::path(*options.cache_dir) / repo_folder_name(repo_id);
}

struct TinyHub {
  MockHub hub;
  MockRepo repo = testing::tiny_llava_repo();
  TinyHub() { hub.add_repo(kTinyRepo, repo); }
  std::string sha_of(const std::string& file) const { return testing::sha256_hex(repo.files.at(file).content); }
  std::string git_id_of(const std::string& file) const { return testing::git_blob_id(repo.files.at(file).content); }
};

Result<PulledModel> pull(const HubOptions& options, const std::string& model = kTinyRepo) {
  auto reference = parse_model_reference(model);
  if (!reference.ok()) return reference.take_error();
  return pull_model(*reference, options);
}

// The tiny model's tensors split over two shards with an index, as save_pretrained writes them.
MockRepo sharded_tiny_repo() {
  MockRepo repo = testing::tiny_llava_repo();
  const std::string whole = repo.files.at("model.safetensors").content;
  repo.files.erase("model.safetensors");
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(whole.data());
  auto header = parse_safetensors_header(bytes, whole.size(), "model.safetensors");
  EXPECT_TRUE(header.ok());
  std::vector<testing::CraftedTensor> shards[2];
  nlohmann::json weight_map = nlohmann::json::object();
  for (std::size_t i = 0; i < header->entries.size(); ++i) {
    const SafetensorsEntry& entry = header->entries[i];
    const std::size_t shard = i % 2;
    const std::uint8_t* data = bytes + header->data_offset + entry.begin;
    shards[shard].push_back({entry.name, entry.dtype_name, entry.shape,
                             std::vector<std::uint8_t>(data, data + (entry.end - entry.begin))});
    weight_map[entry.name] = "model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
  }
  for (int shard = 0; shard < 2; ++shard) {
    const std::vector<std::uint8_t> file = testing::safetensors_bytes(shards[shard]);
    repo.files["model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors"] = {
        std::string(file.begin(), file.end()), true};
  }
  const nlohmann::json index = {{"metadata", {{"total_size", whole.size()}}}, {"weight_map", weight_map}};
  repo.files["model.safetensors.index.json"] = {index.dump(2), false};
  return repo;
}

// ---------------------------------------------------------------------------------------------
// Complete downloads and the cache layout

TEST(HubPull, DownloadsCompleteSnapshot) {
  TinyHub tiny;
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto pulled = pull(options);
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();

  const fs::path repo = repo_dir(options);
  EXPECT_EQ(pulled->snapshot_dir, (repo / "snapshots" / tiny.repo.commit).string());
  EXPECT_EQ(pulled->commit, tiny.repo.commit);
  EXPECT_TRUE(pulled->used_network);
  EXPECT_EQ(pulled->files.size(), tiny.repo.files.size());
  std::uint64_t total = 0;
  for (const auto& [name, file] : tiny.repo.files) {
    total += file.content.size();
    const fs::path pointer = fs::path(pulled->snapshot_dir) / name;
    ASSERT_TRUE(fs::exists(pointer)) << name;
    EXPECT_EQ(file_text(pointer), file.content) << name;
  }
  EXPECT_EQ(pulled->downloaded_bytes, total);
  EXPECT_TRUE(testing::partial_files(*options.cache_dir).empty());

  // The downloaded folder is a model glimpse loads.
  auto model = LlavaModel::load(pulled->snapshot_dir);
  EXPECT_TRUE(model.ok()) << model.error().to_string();
}

TEST(HubPull, LayoutMatchesHuggingfaceHub) {
  TinyHub tiny;
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto pulled = pull(options);
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  const fs::path repo = repo_dir(options);

  // refs/main contains the commit, without a newline.
  EXPECT_EQ(file_text(repo / "refs" / "main"), tiny.repo.commit);

  // LFS blobs are named by their sha256, git files by their git blob id; snapshot entries are
  // relative links to them.
  const std::string lfs_etag = tiny.sha_of("model.safetensors");
  const std::string git_etag = tiny.git_id_of("config.json");
  EXPECT_TRUE(fs::is_regular_file(repo / "blobs" / lfs_etag));
  EXPECT_TRUE(fs::is_regular_file(repo / "blobs" / git_etag));
  const fs::path snapshot = pulled->snapshot_dir;
  ASSERT_TRUE(fs::is_symlink(snapshot / "model.safetensors"));
  EXPECT_EQ(fs::read_symlink(snapshot / "model.safetensors"), fs::path("../../blobs") / lfs_etag);
  EXPECT_EQ(fs::read_symlink(snapshot / "config.json"), fs::path("../../blobs") / git_etag);
  for (const auto& [name, file] : tiny.repo.files) {
    EXPECT_TRUE(fs::read_symlink(snapshot / name).is_relative()) << name;
  }

  // Locks live in .locks/<repo folder>/<etag>.lock and the cache is tagged for backup tools.
  EXPECT_TRUE(fs::exists(fs::path(*options.cache_dir) / ".locks" / repo_folder_name(kTinyRepo) / (lfs_etag + ".lock")));
  EXPECT_EQ(file_text(fs::path(*options.cache_dir) / "CACHEDIR.TAG").rfind("Signature: 8a477f597d28d172789f06886806bc55\n", 0), 0u);
}

TEST(HubPull, SecondPullDownloadsNothing) {
  TinyHub tiny;
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  ASSERT_TRUE(pull(options).ok());
  const int requests_before = static_cast<int>(tiny.hub.requests().size());

  auto again = pull(options);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->downloaded_bytes, 0u);
  EXPECT_TRUE(again->used_network);
  // Only the revision is resolved again; every file is already linked.
  EXPECT_EQ(static_cast<int>(tiny.hub.requests().size()) - requests_before, 1);
}

TEST(HubPull, CachedCommitNeedsNoNetwork) {
  TinyHub tiny;
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  ASSERT_TRUE(pull(options).ok());
  const std::size_t requests_before = tiny.hub.requests().size();

  options.endpoint = "http://127.0.0.1:1";  // nothing listens there
  auto by_commit = pull(options, std::string(kTinyRepo) + "@" + tiny.repo.commit);
  ASSERT_TRUE(by_commit.ok()) << by_commit.error().to_string();
  EXPECT_FALSE(by_commit->used_network);
  EXPECT_EQ(tiny.hub.requests().size(), requests_before);
}

TEST(HubPull, LfsDownloadDropsTokenOnOtherHost) {
  TinyHub tiny;
  tiny.hub.set_storage_host("localhost");
  tiny.hub.set_accepted_token("hf_secret_token_123");
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  options.token = "hf_secret_token_123";
  ASSERT_TRUE(pull(options).ok());

  int storage_requests = 0;
  for (const testing::RecordedRequest& request : tiny.hub.requests()) {
    if (request.path.rfind("/cdn/", 0) == 0) {
      ++storage_requests;
      EXPECT_EQ(request.authorization, "") << "the token was sent to the storage host";
      EXPECT_EQ(request.host.rfind("localhost:", 0), 0u) << request.host;
    } else {
      EXPECT_EQ(request.authorization, "Bearer hf_secret_token_123") << request.path;
    }
  }
  EXPECT_EQ(storage_requests, 1);
}

TEST(HubPull, ShardedModelDownloadsEveryShard) {
  MockHub hub;
  const MockRepo repo = sharded_tiny_repo();
  hub.add_repo(kTinyRepo, repo);
  TempDir dir;
  const HubOptions options = testing::mock_options(hub, dir);
  auto pulled = pull(options);
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  for (const char* name : {"model.safetensors.index.json", "model-00001-of-00002.safetensors",
                           "model-00002-of-00002.safetensors"}) {
    EXPECT_EQ(file_text(fs::path(pulled->snapshot_dir) / name), repo.files.at(name).content) << name;
  }
  EXPECT_FALSE(fs::exists(fs::path(pulled->snapshot_dir) / "model.safetensors"));
  auto model = LlavaModel::load(pulled->snapshot_dir);
  EXPECT_TRUE(model.ok()) << model.error().to_string();

  // Offline, the index names the shards the snapshot must have.
  fs::remove(fs::path(pulled->snapshot_dir) / "model-00002-of-00002.safetensors");
  HubOptions offline = options;
  offline.offline = true;
  auto incomplete = pull(offline);
  ASSERT_FALSE(incomplete.ok());
  EXPECT_NE(incomplete.error().message.find("lacks model-00002-of-00002.safetensors"), std::string::npos)
      << incomplete.error().message;
}

TEST(HubPull, IndexNamingMissingShardFails) {
  MockHub hub;
  MockRepo repo = sharded_tiny_repo();
  repo.files.erase("model-00002-of-00002.safetensors");
  hub.add_repo(kTinyRepo, repo);
  TempDir dir;
  auto pulled = pull(testing::mock_options(hub, dir));
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.error().code, ErrorCode::kNotFound);
  EXPECT_NE(pulled.error().message.find("model-00002-of-00002.safetensors"), std::string::npos)
      << pulled.error().message;
}

TEST(HubPull, GgufFilesReplaceSafetensors) {
  MockHub hub;
  MockRepo repo;
  repo.commit = "1111111111111111111111111111111111111111";
  repo.files["llava-q4_0.gguf"] = {"GGUF fake weights", true};
  repo.files["mmproj-f16.gguf"] = {"GGUF fake projector", true};
  repo.files["README.md"] = {"readme", false};
  hub.add_repo("test-org/gguf", repo);
  TempDir dir;
  HubOptions options = testing::mock_options(hub, dir);
  options.gguf_files = {"llava-q4_0.gguf", "mmproj-f16.gguf"};
  auto pulled = pull(options, "test-org/gguf");
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(pulled->files, (std::vector<std::string>{"llava-q4_0.gguf", "mmproj-f16.gguf"}));
  EXPECT_EQ(file_text(fs::path(pulled->snapshot_dir) / "mmproj-f16.gguf"), "GGUF fake projector");

  options.gguf_files = {"llava-q8_0.gguf"};
  auto missing = pull(options, "test-org/gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("its GGUF files are: llava-q4_0.gguf, mmproj-f16.gguf"), std::string::npos)
      << missing.error().message;
}

TEST(HubPull, RevisionWithSlashIsEncodedAndStored) {
  TinyHub tiny;
  const std::string pr_commit = "2222222222222222222222222222222222222222";
  MockRepo repo = tiny.repo;
  repo.refs["refs/pr/1"] = pr_commit;
  tiny.hub.add_repo(kTinyRepo, repo);
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto pulled = pull(options, std::string(kTinyRepo) + "@refs/pr/1");
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(pulled->commit, pr_commit);
  EXPECT_EQ(file_text(repo_dir(options) / "refs" / "refs" / "pr" / "1"), pr_commit);
  EXPECT_EQ(tiny.hub.count("GET", "/revision/refs%2Fpr%2F1"), 1);
}

TEST(HubPull, BlobsAreSharedBetweenRevisions) {
  TinyHub tiny;
  MockRepo repo = tiny.repo;
  repo.refs["v2"] = "3333333333333333333333333333333333333333";
  tiny.hub.add_repo(kTinyRepo, repo);
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  ASSERT_TRUE(pull(options).ok());
  auto second = pull(options, std::string(kTinyRepo) + "@v2");
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_EQ(second->downloaded_bytes, 0u);
  EXPECT_EQ(tiny.hub.count("GET", "/cdn/"), 1);
  EXPECT_EQ(file_text(fs::path(second->snapshot_dir) / "config.json"), tiny.repo.files.at("config.json").content);
}

TEST(HubPull, FollowsRenamedRepository) {
  TinyHub tiny;
  tiny.hub.add_rename("old-org/tiny-llava", kTinyRepo);
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto pulled = pull(options, "old-org/tiny-llava");
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  // The cache keeps the name that was asked for, as huggingface_hub does.
  EXPECT_EQ(pulled->snapshot_dir, (repo_dir(options, "old-org/tiny-llava") / "snapshots" / tiny.repo.commit).string());
  EXPECT_EQ(file_text(fs::path(pulled->snapshot_dir) / "config.json"), tiny.repo.files.at("config.json").content);
}

TEST(HubPull, ResolveModelReturnsLocalPathsUnchanged) {
  TempDir dir;
  HubOptions options;
  options.endpoint = "http://127.0.0.1:1";
  options.cache_dir = (dir.path() / "cache").string();
  const std::string folder = (testing::test_data_dir() / "tiny-llava" / "model-f16").string();
  auto local = resolve_model(folder, options);
  ASSERT_TRUE(local.ok()) << local.error().to_string();
  EXPECT_EQ(*local, folder);

  auto neither = resolve_model("no/such/local/folder", options);
  ASSERT_FALSE(neither.ok());
  EXPECT_NE(neither.error().message.find("neither an existing file or folder nor a Hub id"), std::string::npos)
      << neither.error().message;
  EXPECT_FALSE(resolve_model("", options).ok());
}

TEST(HubPull, ResolveModelDownloadsHubIds) {
  TinyHub tiny;
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto path = resolve_model(std::string(kTinyRepo) + "@main", options);
  ASSERT_TRUE(path.ok()) << path.error().to_string();
  EXPECT_EQ(*path, (repo_dir(options) / "snapshots" / tiny.repo.commit).string());
}

// ---------------------------------------------------------------------------------------------
// Offline mode

TEST(HubOffline, UsesCompleteCache) {
  TinyHub tiny;
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  ASSERT_TRUE(pull(options).ok());
  const std::size_t requests_before = tiny.hub.requests().size();
  options.offline = true;
  auto offline = pull(options);
  ASSERT_TRUE(offline.ok()) << offline.error().to_string();
  EXPECT_FALSE(offline->used_network);
  EXPECT_EQ(offline->commit, tiny.repo.commit);
  EXPECT_EQ(offline->files.size(), tiny.repo.files.size());
  EXPECT_EQ(tiny.hub.requests().size(), requests_before);
}

TEST(HubOffline, NamesWhatIsMissing) {
  TinyHub tiny;
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  options.offline = true;
  auto empty = pull(options);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kNotFound);
  EXPECT_NE(empty.error().message.find("offline mode"), std::string::npos) << empty.error().message;
  EXPECT_NE(empty.error().message.find("refs/main"), std::string::npos) << empty.error().message;
  EXPECT_NE(empty.error().message.find("glimpse pull test-org/tiny-llava@main"), std::string::npos);
  EXPECT_TRUE(tiny.hub.requests().empty());

  options.offline = false;
  auto pulled = pull(options);
  ASSERT_TRUE(pulled.ok());
  fs::remove(fs::path(pulled->snapshot_dir) / "model.safetensors");
  fs::remove(fs::path(pulled->snapshot_dir) / "tokenizer.json");
  options.offline = true;
  auto incomplete = pull(options);
  ASSERT_FALSE(incomplete.ok());
  EXPECT_NE(incomplete.error().message.find("lacks tokenizer.json, model.safetensors"), std::string::npos)
      << incomplete.error().message;
}

TEST(HubOffline, ReadsCacheWrittenByHuggingfaceHub) {
  // A cache laid out by hand the way huggingface_hub 1.29 writes it: blobs named by sha256 or git
  // blob id, relative links, refs/main without a newline.
  TempDir dir;
  const MockRepo repo = testing::tiny_llava_repo();
  const fs::path cache = dir.path() / "hub";
  const fs::path root = cache / "models--someone--tiny";
  const std::string commit = "4444444444444444444444444444444444444444";
  fs::create_directories(root / "blobs");
  fs::create_directories(root / "refs");
  fs::create_directories(root / "snapshots" / commit);
  testing::write_text(root / "refs" / "main", commit);
  for (const auto& [name, file] : repo.files) {
    const std::string etag = file.lfs ? testing::sha256_hex(file.content) : testing::git_blob_id(file.content);
    testing::write_text(root / "blobs" / etag, file.content);
    fs::create_symlink(fs::path("../../blobs") / etag, root / "snapshots" / commit / name);
  }
  HubOptions options;
  options.cache_dir = cache.string();
  options.offline = true;
  auto pulled = pull(options, "someone/tiny");
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(pulled->snapshot_dir, (root / "snapshots" / commit).string());
  auto model = LlavaModel::load(pulled->snapshot_dir);
  EXPECT_TRUE(model.ok()) << model.error().to_string();
}

// ---------------------------------------------------------------------------------------------
// Interrupted transfers and checksums

TEST(HubResume, CutTransferResumesWithRange) {
  TinyHub tiny;
  const std::uint64_t cut = 3'000'000;
  tiny.hub.add_fault(testing::cut_fault("GET", "/cdn/", cut, 1));
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto pulled = pull(options);
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(file_text(fs::path(pulled->snapshot_dir) / "model.safetensors"),
            tiny.repo.files.at("model.safetensors").content);

  std::vector<std::string> ranges;
  for (const auto& request : tiny.hub.requests()) {
    if (request.path.rfind("/cdn/", 0) == 0) ranges.push_back(request.range);
  }
  EXPECT_EQ(ranges, (std::vector<std::string>{"", "bytes=" + std::to_string(cut) + "-"}));
  EXPECT_TRUE(testing::partial_files(*options.cache_dir).empty());
}

TEST(HubResume, InterruptedRunResumesNextRun) {
  TinyHub tiny;
  const std::uint64_t cut = 2'500'000;
  tiny.hub.add_fault(testing::cut_fault("GET", "/cdn/", cut, 1));
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  options.max_retries = 0;
  auto failed = pull(options);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kIoError);
  EXPECT_NE(failed.error().message.find("next run resumes"), std::string::npos) << failed.error().message;

  // Nothing half-written is visible under a final name: only the .incomplete file remains.
  const fs::path repo = repo_dir(options);
  const std::string etag = tiny.sha_of("model.safetensors");
  EXPECT_FALSE(fs::exists(repo / "blobs" / etag));
  EXPECT_FALSE(fs::exists(repo / "snapshots" / tiny.repo.commit / "model.safetensors"));
  ASSERT_TRUE(fs::exists(repo / "blobs" / (etag + ".incomplete")));
  EXPECT_EQ(fs::file_size(repo / "blobs" / (etag + ".incomplete")), cut);

  options.offline = true;
  EXPECT_FALSE(pull(options).ok());

  options.offline = false;
  auto resumed = pull(options);
  ASSERT_TRUE(resumed.ok()) << resumed.error().to_string();
  EXPECT_EQ(resumed->downloaded_bytes, tiny.repo.files.at("model.safetensors").content.size() - cut);
  EXPECT_EQ(tiny.hub.requests().back().range, "bytes=" + std::to_string(cut) + "-");
  EXPECT_EQ(file_text(fs::path(resumed->snapshot_dir) / "model.safetensors"),
            tiny.repo.files.at("model.safetensors").content);
  EXPECT_TRUE(testing::partial_files(*options.cache_dir).empty());
}

TEST(HubResume, ServerIgnoringRangeRestartsFromZero) {
  TinyHub tiny;
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  const std::string content = tiny.repo.files.at("model.safetensors").content;
  const fs::path blobs = repo_dir(options) / "blobs";
  fs::create_directories(blobs);
  testing::write_text(blobs / (tiny.sha_of("model.safetensors") + ".incomplete"), content.substr(0, 1'000'000));
  tiny.hub.add_fault(testing::ignore_range_fault("GET", "/cdn/"));

  auto pulled = pull(options);
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(file_text(fs::path(pulled->snapshot_dir) / "model.safetensors"), content);
}

TEST(HubResume, ServerErrorsDuringTransferAreRetried) {
  TinyHub tiny;
  tiny.hub.add_fault(testing::status_fault("GET", "/cdn/", 503, 2));
  TempDir dir;
  auto pulled = pull(testing::mock_options(tiny.hub, dir));
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(tiny.hub.count("GET", "/cdn/"), 3);
}

TEST(HubChecksum, MismatchDiscardsLfsFile) {
  TinyHub tiny;
  tiny.hub.add_fault(testing::corrupt_fault("GET", "/cdn/", 4'000'000, 1));
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto pulled = pull(options);
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.error().code, ErrorCode::kInvalidFormat);
  EXPECT_NE(pulled.error().message.find("checksum mismatch for 'model.safetensors'"), std::string::npos)
      << pulled.error().message;
  EXPECT_NE(pulled.error().message.find("sha256 " + tiny.sha_of("model.safetensors")), std::string::npos);
  EXPECT_NE(pulled.error().message.find("was deleted"), std::string::npos);

  const fs::path repo = repo_dir(options);
  EXPECT_FALSE(fs::exists(repo / "blobs" / tiny.sha_of("model.safetensors")));
  EXPECT_FALSE(fs::exists(repo / "snapshots" / tiny.repo.commit / "model.safetensors"));
  EXPECT_TRUE(testing::partial_files(*options.cache_dir).empty());

  // The next run downloads a good copy.
  auto again = pull(options);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(file_text(fs::path(again->snapshot_dir) / "model.safetensors"),
            tiny.repo.files.at("model.safetensors").content);
}

TEST(HubChecksum, MismatchDiscardsGitFile) {
  TinyHub tiny;
  tiny.hub.add_fault(testing::corrupt_fault("GET", "/resolve/" + tiny.repo.commit + "/config.json", 10, 1));
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto pulled = pull(options);
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().message.find("checksum mismatch for 'config.json'"), std::string::npos)
      << pulled.error().message;
  EXPECT_NE(pulled.error().message.find("git blob sha1"), std::string::npos);
  EXPECT_FALSE(fs::exists(repo_dir(options) / "blobs" / tiny.git_id_of("config.json")));
  EXPECT_TRUE(testing::partial_files(*options.cache_dir).empty());
}

TEST(HubChecksum, CorruptPartialFileIsDiscarded) {
  TinyHub tiny;
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  const fs::path blobs = repo_dir(options) / "blobs";
  fs::create_directories(blobs);
  testing::write_text(blobs / (tiny.sha_of("model.safetensors") + ".incomplete"), std::string(500'000, 'x'));
  auto pulled = pull(options);
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().message.find("checksum mismatch"), std::string::npos) << pulled.error().message;
  EXPECT_TRUE(testing::partial_files(*options.cache_dir).empty());
  EXPECT_TRUE(pull(options).ok());
}

TEST(HubChecksum, MoreBytesThanAnnouncedAreRejected) {
  TinyHub tiny;
  tiny.hub.add_fault(testing::header_fault("HEAD", "/model.safetensors", {{"X-Linked-Size", "1000"}}, 1));
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto pulled = pull(options);
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().message.find("more than the 1000 bytes announced"), std::string::npos)
      << pulled.error().message;
  EXPECT_TRUE(testing::partial_files(*options.cache_dir).empty());
}

TEST(HubErrors, AnswerWithoutHubHeadersIsRejected) {
  TinyHub tiny;
  tiny.hub.add_fault(testing::header_fault("HEAD", "/config.json", {{"X-Repo-Commit", ""}}, 1));
  TempDir dir;
  auto pulled = pull(testing::mock_options(tiny.hub, dir));
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().message.find("no X-Repo-Commit header"), std::string::npos) << pulled.error().message;

  tiny.hub.add_fault(testing::header_fault("HEAD", "/config.json", {{"ETag", ""}}, 1));
  auto no_etag = pull(testing::mock_options(tiny.hub, dir));
  ASSERT_FALSE(no_etag.ok());
  EXPECT_NE(no_etag.error().message.find("no usable ETag"), std::string::npos) << no_etag.error().message;
}

// ---------------------------------------------------------------------------------------------
// Error responses, stalls and an unreachable network

TEST(HubErrors, UnknownRepository) {
  TinyHub tiny;
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  auto anonymous = pull(options, "test-org/no-such-model");
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.error().code, ErrorCode::kNotFound);
  EXPECT_NE(anonymous.error().message.find("repository 'test-org/no-such-model' was not found"), std::string::npos)
      << anonymous.error().message;
  EXPECT_NE(anonymous.error().message.find("HTTP 401"), std::string::npos);
  EXPECT_NE(anonymous.error().message.find("no token was sent"), std::string::npos);

  HubOptions with_token = options;
  with_token.token = "hf_some_token";
  auto authenticated = pull(with_token, "test-org/no-such-model");
  ASSERT_FALSE(authenticated.ok());
  EXPECT_NE(authenticated.error().message.find("HTTP 404"), std::string::npos) << authenticated.error().message;
  EXPECT_FALSE(fs::exists(repo_dir(options, "test-org/no-such-model") / "blobs"));
}

TEST(HubErrors, UnknownRevision) {
  TinyHub tiny;
  TempDir dir;
  auto pulled = pull(testing::mock_options(tiny.hub, dir), std::string(kTinyRepo) + "@no-such-branch");
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.error().code, ErrorCode::kNotFound);
  EXPECT_NE(pulled.error().message.find("revision 'no-such-branch' was not found"), std::string::npos)
      << pulled.error().message;
}

TEST(HubErrors, RepositoryWithoutWeights) {
  MockHub hub;
  MockRepo repo = testing::tiny_llava_repo();
  repo.files.erase("model.safetensors");
  repo.files["pytorch_model.bin"] = {"pickle", true};
  hub.add_repo(kTinyRepo, repo);
  TempDir dir;
  auto pulled = pull(testing::mock_options(hub, dir));
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().message.find("its weight files are: pytorch_model.bin"), std::string::npos)
      << pulled.error().message;
  EXPECT_EQ(hub.count("", "/resolve/"), 0);
}

TEST(HubAuth, GatedRepositoryNeedsToken) {
  MockHub hub;
  MockRepo repo = testing::tiny_llava_repo();
  repo.gated = true;
  hub.add_repo(kTinyRepo, repo);
  hub.set_accepted_token("hf_good_token");
  TempDir dir;
  HubOptions options = testing::mock_options(hub, dir);

  auto anonymous = pull(options);
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(anonymous.error().message.find("gated repository"), std::string::npos) << anonymous.error().message;
  EXPECT_NE(anonymous.error().message.find("no token was sent"), std::string::npos);
  EXPECT_NE(anonymous.error().message.find("HF_TOKEN"), std::string::npos);

  options.token = "hf_wrong_token";
  auto wrong = pull(options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("HTTP 403"), std::string::npos) << wrong.error().message;
  EXPECT_NE(wrong.error().message.find("the token from HubOptions::token"), std::string::npos);
  EXPECT_EQ(wrong.error().message.find("hf_wrong_token"), std::string::npos);

  options.token = "hf_good_token";
  auto granted = pull(options);
  ASSERT_TRUE(granted.ok()) << granted.error().to_string();
}

TEST(HubAuth, TokenNeverReachesErrorsOrLogs) {
  TinyHub tiny;
  const std::string token = "hf_do_not_leak_9876";
  // A server that echoes the token in its error message, on every attempt.
  tiny.hub.add_fault(testing::status_fault("GET", "/api/", 500, -1,
                                           {{"X-Error-Message", "bad request with Bearer " + token}}));
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  options.token = token;
  LogCapture logs;
  auto pulled = pull(options);
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().message.find("HTTP 500"), std::string::npos) << pulled.error().message;
  EXPECT_NE(pulled.error().message.find("<token>"), std::string::npos) << pulled.error().message;
  EXPECT_EQ(pulled.error().message.find(token), std::string::npos) << pulled.error().message;
  EXPECT_FALSE(logs.text().empty());
  EXPECT_EQ(logs.text().find(token), std::string::npos) << logs.text();
}

TEST(HubErrors, ServerErrorIsRetriedThenReported) {
  TinyHub tiny;
  tiny.hub.add_fault(testing::status_fault("GET", "/api/", 500, -1));
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  options.max_retries = 2;
  auto pulled = pull(options);
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.error().code, ErrorCode::kIoError);
  EXPECT_NE(pulled.error().message.find("HTTP 500"), std::string::npos) << pulled.error().message;
  // One attempt before the cache is consulted, then max_retries + 1 more, as huggingface_hub does.
  EXPECT_EQ(tiny.hub.count("GET", "/api/"), 4);
}

TEST(HubErrors, TransientServerErrorRecovers) {
  TinyHub tiny;
  tiny.hub.add_fault(testing::status_fault("GET", "/api/", 503, 1));
  tiny.hub.add_fault(testing::status_fault("HEAD", "/config.json", 502, 1));
  tiny.hub.add_fault(testing::close_fault("HEAD", "/tokenizer.json", 1));
  TempDir dir;
  auto pulled = pull(testing::mock_options(tiny.hub, dir));
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
}

TEST(HubErrors, StalledTransferTimesOut) {
  TinyHub tiny;
  tiny.hub.add_fault(testing::stall_fault("GET", "/cdn/", 1'000'000, 10'000));
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  options.stall_timeout_seconds = 1;
  options.max_retries = 0;
  const auto start = std::chrono::steady_clock::now();
  auto pulled = pull(options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().message.find("timed out"), std::string::npos) << pulled.error().message;
  EXPECT_NE(pulled.error().message.find("next run resumes"), std::string::npos);
  EXPECT_LT(seconds, 6.0);
  // The bytes that arrived before the stall are kept for the next run.
  const fs::path partial = repo_dir(options) / "blobs" / (tiny.sha_of("model.safetensors") + ".incomplete");
  ASSERT_TRUE(fs::exists(partial));
  EXPECT_EQ(fs::file_size(partial), 1'000'000u);
}

TEST(HubErrors, StalledMetadataRequestTimesOut) {
  TinyHub tiny;
  tiny.hub.add_fault(testing::stall_fault("GET", "/api/", 0, 10'000));
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  options.request_timeout_seconds = 0.5;
  options.max_retries = 0;
  const auto start = std::chrono::steady_clock::now();
  auto pulled = pull(options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().message.find("timed out"), std::string::npos) << pulled.error().message;
  EXPECT_LT(seconds, 4.0);
}

TEST(HubErrors, NetworkDownIsReported) {
  TempDir dir;
  HubOptions options;
  options.endpoint = "http://127.0.0.1:1";
  options.cache_dir = (dir.path() / "cache").string();
  options.token = "";
  options.offline = false;
  options.max_retries = 1;
  options.retry_delay_seconds = 0.01;
  options.progress = ProgressMode::kNone;
  auto pulled = pull(options);
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.error().code, ErrorCode::kIoError);
  EXPECT_NE(pulled.error().message.find("cannot connect to http://127.0.0.1:1/api/models/"), std::string::npos)
      << pulled.error().message;
  EXPECT_NE(pulled.error().message.find("--offline"), std::string::npos);
}

TEST(HubErrors, NetworkDownFallsBackToCache) {
  TinyHub tiny;
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  ASSERT_TRUE(pull(options).ok());
  options.endpoint = "http://127.0.0.1:1";
  LogCapture logs;
  auto cached = pull(options);
  ASSERT_TRUE(cached.ok()) << cached.error().to_string();
  EXPECT_FALSE(cached->used_network);
  EXPECT_NE(logs.text().find("Using the cached snapshot"), std::string::npos) << logs.text();
}

// ---------------------------------------------------------------------------------------------
// Locks and concurrent pulls

TEST(HubLock, ConcurrentPullsDownloadOnce) {
  TinyHub tiny;
  tiny.hub.set_chunk_delay_ms(2);
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  constexpr int kPullers = 4;
  std::vector<Result<PulledModel>> results(kPullers, Result<PulledModel>(make_error(ErrorCode::kInternal, "unset")));
  std::vector<std::thread> threads;
  for (int i = 0; i < kPullers; ++i) threads.emplace_back([&, i] { results[i] = pull(options); });
  for (std::thread& thread : threads) thread.join();
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.error().to_string();
    EXPECT_EQ(file_text(fs::path(result->snapshot_dir) / "model.safetensors"),
              tiny.repo.files.at("model.safetensors").content);
  }
  EXPECT_EQ(tiny.hub.count("GET", "/cdn/"), 1);
  EXPECT_TRUE(testing::partial_files(*options.cache_dir).empty());
}

TEST(HubLock, WaitsForLockHeldByAnotherProcess) {
  TinyHub tiny;
  TempDir dir;
  const HubOptions options = testing::mock_options(tiny.hub, dir);
  const fs::path lock_path = fs::path(*options.cache_dir) / ".locks" / repo_folder_name(kTinyRepo) /
                             (tiny.sha_of("model.safetensors") + ".lock");
  fs::create_directories(lock_path.parent_path());
  // flock, as Python's filelock takes it in huggingface_hub.
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT, 0664);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);

  std::atomic<bool> done{false};
  Result<PulledModel> result = make_error(ErrorCode::kInternal, "unset");
  std::thread puller([&] {
    result = pull(options);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(done);
  EXPECT_EQ(tiny.hub.count("GET", "/cdn/"), 0);
  close(fd);
  puller.join();
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_EQ(tiny.hub.count("GET", "/cdn/"), 1);
}

TEST(HubProgressCallback, ReportsEveryByte) {
  TinyHub tiny;
  TempDir dir;
  HubOptions options = testing::mock_options(tiny.hub, dir);
  std::uint64_t last_total = 0;
  std::uint64_t total_size = 0;
  int files_done = 0;
  bool monotonic = true;
  options.on_progress = [&](const DownloadProgress& progress) {
    if (progress.total_bytes < last_total) monotonic = false;
    last_total = progress.total_bytes;
    total_size = progress.total_size;
    if (progress.file_done) ++files_done;
  };
  auto pulled = pull(options);
  ASSERT_TRUE(pulled.ok());
  EXPECT_TRUE(monotonic);
  EXPECT_EQ(files_done, static_cast<int>(tiny.repo.files.size()));
  EXPECT_EQ(last_total, total_size);
  EXPECT_EQ(total_size, pulled->downloaded_bytes);
}

}  // namespace
}  // namespace glimpse
