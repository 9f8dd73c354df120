// Unit tests of the hub module's parts: names, settings from the environment, checksums,
// progress output and the cache layout rules.
#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "glimpse/hub.h"
#include "hub/cache.h"
#include "hub/checksum.h"
#include "hub/model_files.h"
#include "hub/names.h"
#include "hub/progress.h"
#include "hub/settings.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

hub::EnvLookup fake_env(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    const auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

// ---------------------------------------------------------------------------------------------
// Names

TEST(HubNames, ParsesRepoIdAndRevision) {
  auto plain = parse_model_reference("llava-hf/llava-1.5-7b-hf");
  ASSERT_TRUE(plain.ok()) << plain.error().to_string();
  EXPECT_EQ(plain->repo_id, "llava-hf/llava-1.5-7b-hf");
  EXPECT_EQ(plain->revision, "main");

  auto tagged = parse_model_reference("org/name@v1.0");
  ASSERT_TRUE(tagged.ok()) << tagged.error().to_string();
  EXPECT_EQ(tagged->repo_id, "org/name");
  EXPECT_EQ(tagged->revision, "v1.0");

  auto pull_request = parse_model_reference("org/name@refs/pr/1");
  ASSERT_TRUE(pull_request.ok()) << pull_request.error().to_string();
  EXPECT_EQ(pull_request->revision, "refs/pr/1");
}

TEST(HubNames, RejectsInvalidReferences) {
  const char* invalid[] = {
      "",            "name-only",     "a/b/c",          "/name",         "org/",           "org/na me",
      "org/-name",   "org/name.",     "org--x/name",    "org/na..me",    "org/name@",      "org/name@a/../b",
      "org/name@/x", "org/name@a//b", "org/name@a b",   "org/name@a\\b", "../x",           "org/näme",
  };
  for (const char* text : invalid) {
    auto reference = parse_model_reference(text);
    EXPECT_FALSE(reference.ok()) << "accepted '" << text << "'";
    if (!reference.ok()) {
      EXPECT_EQ(reference.error().code, ErrorCode::kInvalidArgument) << text;
    }
  }
  const std::string too_long = "org/" + std::string(93, 'a');
  EXPECT_FALSE(parse_model_reference(too_long).ok());
  EXPECT_TRUE(parse_model_reference("org/" + std::string(92, 'a')).ok());
}

TEST(HubNames, RepoFolderNameMatchesHuggingfaceHub) {
  EXPECT_EQ(repo_folder_name("llava-hf/llava-1.5-7b-hf"), "models--llava-hf--llava-1.5-7b-hf");
  EXPECT_EQ(repo_folder_name("julien-c/EsperBERTo-small"), "models--julien-c--EsperBERTo-small");
}

TEST(HubNames, PercentEncodesLikePythonQuote) {
  EXPECT_EQ(hub::percent_encode("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(hub::percent_encode("sub dir/model.safetensors", true), "sub%20dir/model.safetensors");
  EXPECT_EQ(hub::percent_encode("a~b_c-d.e", false), "a~b_c-d.e");
  EXPECT_EQ(hub::percent_encode("\xc3\xa9?#&", true), "%C3%A9%3F%23%26");
}

TEST(HubNames, NormalizesEtags) {
  EXPECT_EQ(hub::normalize_etag("\"abc123\""), "abc123");
  EXPECT_EQ(hub::normalize_etag("W/\"abc123\""), "abc123");
  EXPECT_EQ(hub::normalize_etag("abc-1.2_3"), "abc-1.2_3");
  EXPECT_EQ(hub::normalize_etag("\"../x\""), "");
  EXPECT_EQ(hub::normalize_etag("\"..\""), "");
  EXPECT_EQ(hub::normalize_etag("\"\""), "");
  EXPECT_EQ(hub::normalize_etag("\"a b\""), "");
}

TEST(HubNames, ValidatesRepoFilePaths) {
  EXPECT_TRUE(hub::validate_repo_file_path("model-00001-of-00002.safetensors").ok());
  EXPECT_TRUE(hub::validate_repo_file_path("subfolder/model.gguf").ok());
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a\\b", "a\nb", "a/"}) {
    EXPECT_FALSE(hub::validate_repo_file_path(bad).ok()) << "accepted '" << bad << "'";
  }
}

TEST(HubNames, RecognizesCommitHashes) {
  EXPECT_TRUE(hub::is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(hub::is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_FALSE(hub::is_commit_hash("0123456789abcdef"));
  EXPECT_FALSE(hub::is_commit_hash("main"));
}

// ---------------------------------------------------------------------------------------------
// Settings

TEST(HubSettings, DefaultsFollowHuggingfaceHub) {
  auto settings = hub::resolve_settings({}, fake_env({{"HOME", "/home/u"}}));
  ASSERT_TRUE(settings.ok()) << settings.error().to_string();
  EXPECT_EQ(settings->endpoint, "https://huggingface.co");
  EXPECT_EQ(settings->cache_dir, "/home/u/.cache/huggingface/hub");
  EXPECT_EQ(settings->token, "");
  EXPECT_FALSE(settings->offline);
  EXPECT_EQ(settings->request_timeout_seconds, 10);
  EXPECT_EQ(settings->stall_timeout_seconds, 10);
}

TEST(HubSettings, CacheDirPrecedence) {
  struct Case {
    std::map<std::string, std::string> env;
    std::string expected;
  };
  const Case cases[] = {
      {{{"HOME", "/h"}, {"XDG_CACHE_HOME", "/xdg"}}, "/xdg/huggingface/hub"},
      {{{"HOME", "/h"}, {"XDG_CACHE_HOME", "/xdg"}, {"HF_HOME", "/hf"}}, "/hf/hub"},
      {{{"HOME", "/h"}, {"HF_HOME", "/hf"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"}}, "/legacy"},
      {{{"HOME", "/h"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"}, {"HF_HUB_CACHE", "/new"}}, "/new"},
      {{{"HOME", "/h"}, {"HF_HUB_CACHE", "~/cache"}}, "/h/cache"},
      {{{"HOME", "/h"}, {"HF_HOME", "~"}}, "/h/hub"},
      {{{"HOME", "/h"}, {"HF_HUB_CACHE", ""}, {"HF_HOME", "/hf"}}, "/hf/hub"},  // empty counts as unset
  };
  for (const Case& test : cases) {
    auto settings = hub::resolve_settings({}, fake_env(test.env));
    ASSERT_TRUE(settings.ok()) << settings.error().to_string();
    EXPECT_EQ(settings->cache_dir, test.expected);
  }
  HubOptions options;
  options.cache_dir = "/explicit";
  auto settings = hub::resolve_settings(options, fake_env({{"HOME", "/h"}, {"HF_HUB_CACHE", "/new"}}));
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->cache_dir, "/explicit");
}

TEST(HubSettings, EndpointFromEnvironment) {
  auto settings = hub::resolve_settings({}, fake_env({{"HOME", "/h"}, {"HF_ENDPOINT", "https://mirror.example/hf/"}}));
  ASSERT_TRUE(settings.ok()) << settings.error().to_string();
  EXPECT_EQ(settings->endpoint, "https://mirror.example/hf");

  for (const char* bad : {"ftp://x", "huggingface.co", "http://", "http://a b", "https://x/?q=1"}) {
    auto rejected = hub::resolve_settings({}, fake_env({{"HOME", "/h"}, {"HF_ENDPOINT", bad}}));
    ASSERT_FALSE(rejected.ok()) << "accepted HF_ENDPOINT=" << bad;
    EXPECT_NE(rejected.error().message.find("HF_ENDPOINT"), std::string::npos) << rejected.error().message;
  }
}

TEST(HubSettings, TokenPrecedenceAndCleaning) {
  TempDir dir;
  const fs::path home = dir.path() / "hf";
  fs::create_directories(home);
  testing::write_text(home / "token", "hf_from_file\n");
  testing::write_text(dir.path() / "other-token", "  hf_other_file \r\n");

  auto from_file = hub::resolve_settings({}, fake_env({{"HF_HOME", home.string()}}));
  ASSERT_TRUE(from_file.ok()) << from_file.error().to_string();
  EXPECT_EQ(from_file->token, "hf_from_file");
  EXPECT_EQ(from_file->token_source, hub::TokenSource::kTokenFile);

  auto from_path = hub::resolve_settings(
      {}, fake_env({{"HF_HOME", home.string()}, {"HF_TOKEN_PATH", (dir.path() / "other-token").string()}}));
  ASSERT_TRUE(from_path.ok());
  EXPECT_EQ(from_path->token, "hf_other_file");

  auto legacy = hub::resolve_settings(
      {}, fake_env({{"HF_HOME", home.string()}, {"HUGGING_FACE_HUB_TOKEN", "hf_legacy"}}));
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->token, "hf_legacy");
  EXPECT_EQ(legacy->token_origin, "HUGGING_FACE_HUB_TOKEN");

  auto env = hub::resolve_settings(
      {}, fake_env({{"HF_HOME", home.string()}, {"HF_TOKEN", "hf_env\n"}, {"HUGGING_FACE_HUB_TOKEN", "hf_legacy"}}));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->token, "hf_env");
  EXPECT_EQ(env->token_source, hub::TokenSource::kEnvironment);

  HubOptions explicit_none;
  explicit_none.token = "";
  auto none = hub::resolve_settings(explicit_none, fake_env({{"HF_HOME", home.string()}, {"HF_TOKEN", "hf_env"}}));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->token, "");
  EXPECT_EQ(none->token_source, hub::TokenSource::kNone);

  // A whitespace-only HF_TOKEN cleans to nothing, so the token file is used, as in huggingface_hub.
  auto blank = hub::resolve_settings({}, fake_env({{"HF_HOME", home.string()}, {"HF_TOKEN", " \n"}}));
  ASSERT_TRUE(blank.ok());
  EXPECT_EQ(blank->token, "hf_from_file");
}

TEST(HubSettings, RejectsTokenWithInnerSpaceWithoutShowingIt) {
  auto settings = hub::resolve_settings({}, fake_env({{"HOME", "/h"}, {"HF_TOKEN", "hf_secret part"}}));
  ASSERT_FALSE(settings.ok());
  EXPECT_NE(settings.error().message.find("HF_TOKEN"), std::string::npos);
  EXPECT_EQ(settings.error().message.find("hf_secret"), std::string::npos) << settings.error().message;
}

TEST(HubSettings, OfflineValues) {
  for (const char* value : {"1", "ON", "yes", "True"}) {
    auto settings = hub::resolve_settings({}, fake_env({{"HOME", "/h"}, {"HF_HUB_OFFLINE", value}}));
    ASSERT_TRUE(settings.ok());
    EXPECT_TRUE(settings->offline) << value;
  }
  for (const char* value : {"0", "off", "no", "2"}) {
    auto settings = hub::resolve_settings({}, fake_env({{"HOME", "/h"}, {"HF_HUB_OFFLINE", value}}));
    ASSERT_TRUE(settings.ok());
    EXPECT_FALSE(settings->offline) << value;
  }
  auto transformers = hub::resolve_settings({}, fake_env({{"HOME", "/h"}, {"TRANSFORMERS_OFFLINE", "1"}}));
  ASSERT_TRUE(transformers.ok());
  EXPECT_TRUE(transformers->offline);

  HubOptions online;
  online.offline = false;
  auto overridden = hub::resolve_settings(online, fake_env({{"HOME", "/h"}, {"HF_HUB_OFFLINE", "1"}}));
  ASSERT_TRUE(overridden.ok());
  EXPECT_FALSE(overridden->offline);
}

TEST(HubSettings, TimeoutsAndProgressFromEnvironment) {
  auto settings = hub::resolve_settings(
      {}, fake_env({{"HOME", "/h"}, {"HF_HUB_ETAG_TIMEOUT", "3"}, {"HF_HUB_DOWNLOAD_TIMEOUT", "2.5"},
                    {"HF_HUB_DISABLE_PROGRESS_BARS", "1"}}));
  ASSERT_TRUE(settings.ok()) << settings.error().to_string();
  EXPECT_EQ(settings->request_timeout_seconds, 3);
  EXPECT_EQ(settings->stall_timeout_seconds, 2.5);
  EXPECT_TRUE(settings->progress_disabled_by_environment);

  for (const char* bad : {"abc", "0", "-1", "5s"}) {
    auto rejected = hub::resolve_settings({}, fake_env({{"HOME", "/h"}, {"HF_HUB_ETAG_TIMEOUT", bad}}));
    ASSERT_FALSE(rejected.ok()) << bad;
    EXPECT_NE(rejected.error().message.find("HF_HUB_ETAG_TIMEOUT"), std::string::npos);
  }
  HubOptions options;
  options.stall_timeout_seconds = 0;
  EXPECT_FALSE(hub::resolve_settings(options, fake_env({{"HOME", "/h"}})).ok());
}

// ---------------------------------------------------------------------------------------------
// Checksums

std::string checksum_of(hub::ChecksumKind kind, const std::string& content) {
  auto checksum = hub::StreamingChecksum::create(kind, content.size());
  EXPECT_TRUE(checksum.ok());
  checksum->update(content.data(), content.size());
  return checksum->finish();
}

TEST(HubChecksum, KnownVectors) {
  // sha256("abc") from FIPS 180-2; git blob ids as printed by `git hash-object`.
  EXPECT_EQ(checksum_of(hub::ChecksumKind::kSha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(checksum_of(hub::ChecksumKind::kGitBlobSha1, ""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  EXPECT_EQ(checksum_of(hub::ChecksumKind::kGitBlobSha1, "hello world\n"), "3b18e512dba79e4c8300dd08aeb37f8e728b8dad");
  EXPECT_EQ(checksum_of(hub::ChecksumKind::kNone, "abc"), "");
}

TEST(HubChecksum, StreamingEqualsWholeAndFile) {
  std::string content;
  for (int i = 0; i < 300000; ++i) content += static_cast<char>(i * 7 + 3);
  auto checksum = hub::StreamingChecksum::create(hub::ChecksumKind::kSha256, content.size());
  ASSERT_TRUE(checksum.ok());
  for (std::size_t at = 0; at < content.size(); at += 4097) {
    checksum->update(content.data() + at, std::min<std::size_t>(4097, content.size() - at));
  }
  const std::string streamed = checksum->finish();
  EXPECT_EQ(streamed, checksum_of(hub::ChecksumKind::kSha256, content));

  TempDir dir;
  testing::write_text(dir.path() / "f", content);
  auto from_file = hub::checksum_file((dir.path() / "f").string(), hub::ChecksumKind::kSha256);
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(*from_file, streamed);
}

TEST(HubChecksum, KindFromEtag) {
  EXPECT_EQ(hub::checksum_kind_of_etag(std::string(64, 'a')), hub::ChecksumKind::kSha256);
  EXPECT_EQ(hub::checksum_kind_of_etag(std::string(40, '0')), hub::ChecksumKind::kGitBlobSha1);
  EXPECT_EQ(hub::checksum_kind_of_etag("5d41402abc4b2a76b9719d911017c592"), hub::ChecksumKind::kNone);
  EXPECT_EQ(hub::checksum_kind_of_etag(std::string(64, 'A')), hub::ChecksumKind::kNone);
}

// ---------------------------------------------------------------------------------------------
// Progress

TEST(HubProgress, FormatsBytesAndDurations) {
  EXPECT_EQ(hub::format_bytes(0), "0 B");
  EXPECT_EQ(hub::format_bytes(999), "999 B");
  EXPECT_EQ(hub::format_bytes(8807520), "8.8 MB");
  EXPECT_EQ(hub::format_bytes(14'200'000'000ull), "14.2 GB");
  EXPECT_EQ(hub::format_bytes(250'000'000), "250 MB");
  EXPECT_EQ(hub::format_duration(45), "45 s");
  EXPECT_EQ(hub::format_duration(187), "3:07");
  EXPECT_EQ(hub::format_duration(3729), "1:02:09");
  EXPECT_EQ(hub::format_duration(-1), "?");
}

TEST(HubProgress, RendersRateAndEta) {
  DownloadProgress progress;
  progress.file = "model.safetensors";
  progress.file_bytes = 4'000'000;
  progress.file_size = 8'000'000;
  progress.total_bytes = 4'000'000;
  progress.total_size = 8'000'000;
  progress.resumed_bytes = 2'000'000;
  progress.elapsed_seconds = 2;  // 2 MB downloaded in 2 s: 1 MB/s, 4 MB left: 4 s
  EXPECT_DOUBLE_EQ(hub::transfer_rate(progress), 1e6);
  EXPECT_EQ(hub::render_plain_line(progress),
            "glimpse: model.safetensors 4.0 MB of 8.0 MB (50%), all files 4.0 MB of 8.0 MB, 1.0 MB/s, ETA 4 s");
  EXPECT_EQ(hub::render_bar_line(progress, 10), "model.safetensors  50% |#####     | 4.0 MB/8.0 MB 1.0 MB/s ETA 4 s");
}

TEST(HubProgress, ModesWriteWhatTheyPromise) {
  DownloadProgress progress;
  progress.file = "model.safetensors";
  progress.file_size = progress.total_size = 1000;
  const auto run = [&](ProgressMode mode) {
    std::string text;
    int callbacks = 0;
    hub::ProgressRenderer renderer(mode, 5.0, [&](std::string_view piece) { text += piece; },
                                   [&](const DownloadProgress&) { ++callbacks; });
    renderer.start("org/name@main", 1, 1000);
    for (int second = 0; second <= 12; ++second) {
      progress.elapsed_seconds = second;
      progress.file_bytes = progress.total_bytes = static_cast<std::uint64_t>(second * 50);
      renderer.update(progress);
    }
    progress.file_bytes = progress.total_bytes = 1000;
    renderer.file_done(progress);
    renderer.finish();
    EXPECT_EQ(callbacks, 14);
    return text;
  };

  EXPECT_EQ(run(ProgressMode::kNone), "");

  // Lines: the announcement, one line at 5 s and one at 10 s (the first update starts the
  // interval), and the completion line.
  const std::string lines = run(ProgressMode::kLines);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 4) << lines;
  EXPECT_NE(lines.find("downloading 1 file (1.0 kB) of org/name@main"), std::string::npos) << lines;
  EXPECT_NE(lines.find("250 B of 1.0 kB (25%)"), std::string::npos) << lines;
  EXPECT_NE(lines.find("model.safetensors complete"), std::string::npos) << lines;
  EXPECT_EQ(lines.find('\r'), std::string::npos);

  const std::string bar = run(ProgressMode::kBar);
  EXPECT_NE(bar.find('\r'), std::string::npos);
  EXPECT_NE(bar.find("100% |"), std::string::npos) << bar;
  EXPECT_EQ(bar.back(), '\n');
}

// ---------------------------------------------------------------------------------------------
// Cache layout

TEST(HubCache, PathsFollowTheHuggingFaceLayout) {
  hub::RepoCache cache("/c", "org/name");
  EXPECT_EQ(cache.repo_dir(), fs::path("/c/models--org--name"));
  EXPECT_EQ(cache.blob_path("abc"), fs::path("/c/models--org--name/blobs/abc"));
  EXPECT_EQ(cache.incomplete_path("abc"), fs::path("/c/models--org--name/blobs/abc.incomplete"));
  EXPECT_EQ(cache.lock_path("abc"), fs::path("/c/.locks/models--org--name/abc.lock"));
  EXPECT_EQ(cache.pointer_path("c0ffee", "sub/file.json"), fs::path("/c/models--org--name/snapshots/c0ffee/sub/file.json"));
  EXPECT_EQ(cache.ref_path("refs/pr/1"), fs::path("/c/models--org--name/refs/refs/pr/1"));
}

TEST(HubCache, PointersAreRelativeLinks) {
  TempDir dir;
  hub::RepoCache cache(dir.path(), "org/name");
  ASSERT_TRUE(cache.prepare_for_download().ok());
  testing::write_text(cache.blob_path("e1"), "content");
  const std::string commit(40, 'a');
  ASSERT_TRUE(cache.link_pointer(commit, "config.json", "e1").ok());
  ASSERT_TRUE(cache.link_pointer(commit, "sub/dir/file.bin", "e1").ok());

  EXPECT_TRUE(fs::is_symlink(cache.pointer_path(commit, "config.json")));
  EXPECT_EQ(fs::read_symlink(cache.pointer_path(commit, "config.json")), fs::path("../../blobs/e1"));
  EXPECT_EQ(fs::read_symlink(cache.pointer_path(commit, "sub/dir/file.bin")), fs::path("../../../../blobs/e1"));
  EXPECT_EQ(testing::read_bytes(cache.pointer_path(commit, "sub/dir/file.bin")).size(), 7u);

  // Relinking replaces the entry.
  testing::write_text(cache.blob_path("e2"), "other");
  ASSERT_TRUE(cache.link_pointer(commit, "config.json", "e2").ok());
  EXPECT_EQ(fs::read_symlink(cache.pointer_path(commit, "config.json")), fs::path("../../blobs/e2"));
  EXPECT_TRUE(fs::exists(dir.path() / "CACHEDIR.TAG"));
}

TEST(HubCache, RefsHoldTheCommitWithoutNewline) {
  TempDir dir;
  hub::RepoCache cache(dir.path(), "org/name");
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  ASSERT_TRUE(cache.write_ref("refs/pr/1", commit).ok());
  const std::vector<std::uint8_t> bytes = testing::read_bytes(cache.ref_path("refs/pr/1"));
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), commit);
  auto read = cache.read_ref("refs/pr/1");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->value_or(""), commit);

  // A ref written by hand with a newline is read too; garbage is an error naming the file.
  testing::write_text(cache.ref_path("main"), commit + "\n");
  auto with_newline = cache.read_ref("main");
  ASSERT_TRUE(with_newline.ok());
  EXPECT_EQ(with_newline->value_or(""), commit);
  testing::write_text(cache.ref_path("bad"), "not a hash");
  auto bad = cache.read_ref("bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("refs/bad"), std::string::npos);
  auto absent = cache.read_ref("absent");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST(HubCache, FileLockExcludesSecondHolder) {
  TempDir dir;
  const fs::path path = dir.path() / "x.lock";
  auto first = hub::FileLock::acquire(path, 10, "test");
  ASSERT_TRUE(first.ok());
  std::atomic<bool> second_acquired{false};
  std::thread waiter([&] {
    auto second = hub::FileLock::acquire(path, 10, "test");
    EXPECT_TRUE(second.ok());
    second_acquired = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(second_acquired);
  { auto release = std::move(*first); }
  waiter.join();
  EXPECT_TRUE(second_acquired);
}

TEST(HubCache, SnapshotInspectionFindsMissingShards) {
  TempDir dir;
  const fs::path snapshot = dir.path();
  for (const char* name : {"config.json", "tokenizer.json", "preprocessor_config.json", "chat_template.json"}) {
    testing::write_text(snapshot / name, "{}");
  }
  testing::write_text(snapshot / "model.safetensors.index.json",
                      R"({"metadata": {}, "weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}})");
  testing::write_text(snapshot / "model-1.safetensors", "x");
  auto contents = hub::inspect_snapshot(snapshot, {});
  ASSERT_TRUE(contents.ok()) << contents.error().to_string();
  EXPECT_EQ(contents->missing, std::vector<std::string>{"model-2.safetensors"});
  EXPECT_NE(std::find(contents->present.begin(), contents->present.end(), "chat_template.json"),
            contents->present.end());

  testing::write_text(snapshot / "model.safetensors.index.json", R"({"weight_map": {"a": "../escape.safetensors"}})");
  EXPECT_FALSE(hub::inspect_snapshot(snapshot, {}).ok());
}

TEST(HubModelFiles, SelectsLlavaFiles) {
  const std::set<std::string> repo = {"config.json", "tokenizer.json", "tokenizer.model", "preprocessor_config.json",
                                      "chat_template.json", "README.md", "model.safetensors", ".gitattributes"};
  auto selection = hub::select_model_files(repo, {}, "'o/n'");
  ASSERT_TRUE(selection.ok()) << selection.error().to_string();
  EXPECT_EQ(selection->files, (std::vector<std::string>{"config.json", "tokenizer.json", "preprocessor_config.json",
                                                        "chat_template.json", "model.safetensors"}));
  EXPECT_FALSE(selection->sharded);

  std::set<std::string> sharded = repo;
  sharded.insert("model.safetensors.index.json");
  auto with_index = hub::select_model_files(sharded, {}, "'o/n'");
  ASSERT_TRUE(with_index.ok());
  EXPECT_TRUE(with_index->sharded);
  EXPECT_EQ(with_index->files.back(), "model.safetensors.index.json");

  const std::set<std::string> bin_only = {"config.json", "tokenizer.json", "preprocessor_config.json",
                                          "pytorch_model.bin"};
  auto no_safetensors = hub::select_model_files(bin_only, {}, "'o/n'");
  ASSERT_FALSE(no_safetensors.ok());
  EXPECT_NE(no_safetensors.error().message.find("pytorch_model.bin"), std::string::npos)
      << no_safetensors.error().message;

  auto missing = hub::select_model_files({"model.safetensors", "config.json"}, {}, "'o/n'");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("tokenizer.json, preprocessor_config.json"), std::string::npos)
      << missing.error().message;
}

}  // namespace
}  // namespace glimpse
