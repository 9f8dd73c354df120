// `glimpse pull` run as a separate process against the mock Hub, with a clean environment, so
// that the exit codes, stdout, stderr, the HF_* variables and a file-size limit behave as a user
// sees them.
#include <sys/wait.h>

#include <filesystem>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "hub/hub_test_support.h"

namespace glimpse {
namespace {

namespace fs = std::filesystem;
using testing::MockHub;
using testing::TempDir;
using testing::kTinyRepo;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string read_text(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return "";
  const std::vector<std::uint8_t> bytes = testing::read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

// Runs the bash `script` with only the variables in `env` (plus PATH), capturing stdout and stderr.
CommandResult run_script(const TempDir& dir, const std::map<std::string, std::string>& env, const std::string& script) {
  std::string variables = "PATH=/usr/bin:/bin";
  for (const auto& [name, value] : env) variables += " " + name + "=" + shell_quote(value);
  const fs::path out = dir.path() / "stdout.txt";
  const fs::path err = dir.path() / "stderr.txt";
  const std::string command = "env -i " + variables + " /bin/bash -c " + shell_quote(script) + " >" +
                              shell_quote(out.string()) + " 2>" + shell_quote(err.string()) + " </dev/null";
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_text(out);
  result.err = read_text(err);
  return result;
}

// Runs `glimpse <arguments>` after the shell lines in `prelude` (such as a ulimit).
CommandResult run_glimpse(const TempDir& dir, const std::map<std::string, std::string>& env,
                          const std::string& arguments, const std::string& prelude = "") {
  return run_script(dir, env, prelude + "exec " + shell_quote(GLIMPSE_CLI_PATH) + " " + arguments);
}

struct CliHub {
  MockHub hub;
  testing::MockRepo repo = testing::tiny_llava_repo();
  TempDir dir;
  CliHub() { hub.add_repo(kTinyRepo, repo); }
  std::string cache() const { return (dir.path() / "cache").string(); }
  std::map<std::string, std::string> env() const {
    return {{"HOME", dir.path().string()}, {"HF_ENDPOINT", hub.endpoint()}, {"HF_HUB_CACHE", cache()}};
  }
  std::string snapshot() const {
    return (fs::path(cache()) / repo_folder_name(kTinyRepo) / "snapshots" / repo.commit).string();
  }
};

TEST(HubCli, PullPrintsSnapshotFolder) {
  CliHub cli;
  const CommandResult result = run_glimpse(cli.dir, cli.env(), std::string("pull ") + kTinyRepo);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, cli.snapshot() + "\n");
  // stderr is a file, not a terminal, so progress comes as plain lines.
  EXPECT_NE(result.err.find("glimpse: downloading 8 files (10.1 MB) of test-org/tiny-llava@main"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("glimpse: model.safetensors complete (8.8 MB"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find('\r'), std::string::npos);
  EXPECT_NE(result.err.find("is commit " + cli.repo.commit + ", 8 files, downloaded 10.1 MB"), std::string::npos)
      << result.err;
  EXPECT_TRUE(fs::exists(fs::path(cli.snapshot()) / "model.safetensors"));

  const CommandResult again = run_glimpse(cli.dir, cli.env(), std::string("pull ") + kTinyRepo);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("already complete in the cache"), std::string::npos) << again.err;
}

TEST(HubCli, QuietPrintsOnlyThePath) {
  CliHub cli;
  const CommandResult result = run_glimpse(cli.dir, cli.env(), std::string("pull --quiet ") + kTinyRepo);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, cli.snapshot() + "\n");
  EXPECT_EQ(result.err, "");
}

TEST(HubCli, OptionsOverrideEnvironment) {
  CliHub cli;
  const std::string other_cache = (cli.dir.path() / "other").string();
  const CommandResult result = run_glimpse(
      cli.dir, cli.env(), "pull -q --cache-dir " + shell_quote(other_cache) + " --revision " + cli.repo.commit + " " + kTinyRepo);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.rfind(other_cache + "/models--test-org--tiny-llava/snapshots/" + cli.repo.commit, 0), 0u)
      << result.out;

  const CommandResult twice = run_glimpse(cli.dir, cli.env(), std::string("pull --revision v2 ") + kTinyRepo + "@main");
  EXPECT_EQ(twice.exit_code, 3);
  EXPECT_NE(twice.err.find("the revision is given twice"), std::string::npos) << twice.err;
}

TEST(HubCli, OfflineReportsMissingModel) {
  CliHub cli;
  const CommandResult flag = run_glimpse(cli.dir, cli.env(), std::string("pull --offline ") + kTinyRepo);
  EXPECT_EQ(flag.exit_code, 3);
  EXPECT_EQ(flag.out, "");
  EXPECT_NE(flag.err.find("glimpse: not found: offline mode"), std::string::npos) << flag.err;
  EXPECT_NE(flag.err.find("is not in the cache"), std::string::npos) << flag.err;

  auto env = cli.env();
  env["HF_HUB_OFFLINE"] = "1";
  const CommandResult variable = run_glimpse(cli.dir, env, std::string("pull ") + kTinyRepo);
  EXPECT_EQ(variable.exit_code, 3);
  EXPECT_NE(variable.err.find("offline mode"), std::string::npos) << variable.err;
  EXPECT_TRUE(cli.hub.requests().empty());

  ASSERT_EQ(run_glimpse(cli.dir, cli.env(), std::string("pull -q ") + kTinyRepo).exit_code, 0);
  const CommandResult cached = run_glimpse(cli.dir, env, std::string("pull ") + kTinyRepo);
  ASSERT_EQ(cached.exit_code, 0) << cached.err;
  EXPECT_EQ(cached.out, cli.snapshot() + "\n");
  EXPECT_NE(cached.err.find("from the cache without network access"), std::string::npos) << cached.err;
}

TEST(HubCli, TokenFromEnvironmentOpensGatedRepository) {
  CliHub cli;
  testing::MockRepo gated = cli.repo;
  gated.gated = true;
  cli.hub.add_repo("test-org/gated", gated);
  cli.hub.set_accepted_token("hf_cli_token_42");

  const CommandResult anonymous = run_glimpse(cli.dir, cli.env(), "pull test-org/gated");
  EXPECT_EQ(anonymous.exit_code, 3);
  EXPECT_NE(anonymous.err.find("gated repository"), std::string::npos) << anonymous.err;

  auto env = cli.env();
  env["HF_TOKEN"] = "hf_wrong_cli_token";
  const CommandResult wrong = run_glimpse(cli.dir, env, "pull test-org/gated");
  EXPECT_EQ(wrong.exit_code, 3);
  EXPECT_NE(wrong.err.find("the token from HF_TOKEN"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("hf_wrong_cli_token"), std::string::npos) << wrong.err;

  // The token file huggingface_hub's login writes, $HF_HOME/token.
  const fs::path hf_home = cli.dir.path() / "hf-home";
  fs::create_directories(hf_home);
  testing::write_text(hf_home / "token", "hf_cli_token_42\n");
  env = cli.env();
  env["HF_HOME"] = hf_home.string();
  const CommandResult granted = run_glimpse(cli.dir, env, "-v pull test-org/gated");
  ASSERT_EQ(granted.exit_code, 0) << granted.err;
  EXPECT_EQ(granted.err.find("hf_cli_token_42"), std::string::npos) << granted.err;
}

TEST(HubCli, InvalidInputExitCodes) {
  CliHub cli;
  const CommandResult bad_id = run_glimpse(cli.dir, cli.env(), "pull not-a-repo-id");
  EXPECT_EQ(bad_id.exit_code, 3);
  EXPECT_NE(bad_id.err.find("is not a valid Hub repository id"), std::string::npos) << bad_id.err;

  const CommandResult missing_argument = run_glimpse(cli.dir, cli.env(), "pull");
  EXPECT_EQ(missing_argument.exit_code, 2);

  const CommandResult unknown = run_glimpse(cli.dir, cli.env(), "pull test-org/unknown");
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_NE(unknown.err.find("was not found"), std::string::npos) << unknown.err;

  auto env = cli.env();
  env["HF_ENDPOINT"] = "http://127.0.0.1:1";
  const CommandResult down = run_glimpse(cli.dir, env, std::string("pull ") + kTinyRepo);
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.err.find("cannot connect"), std::string::npos) << down.err;
}

TEST(HubCli, TwoProcessesDownloadOnce) {
  CliHub cli;
  cli.hub.set_chunk_delay_ms(2);
  // Both processes start together; the blob lock makes the second wait and reuse the first's blob.
  const std::string pull = shell_quote(GLIMPSE_CLI_PATH) + " pull -q " + kTinyRepo;
  const std::string script = pull + " & first=$!; " + pull + " & second=$!; wait $first; a=$?; wait $second; b=$?; " +
                             "exit $((a + b))";
  const CommandResult both = run_script(cli.dir, cli.env(), script);
  EXPECT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(both.out, cli.snapshot() + "\n" + cli.snapshot() + "\n");
  EXPECT_EQ(cli.hub.count("GET", "/cdn/"), 1);
  EXPECT_TRUE(testing::partial_files(cli.cache()).empty());
}

// A full disk simulated with a file-size limit: bash's `ulimit -f` counts 1024-byte blocks, and
// SIGXFSZ is ignored so that write(2) fails with EFBIG instead of killing the process.
TEST(HubCli, FullDiskLeavesNoBrokenFile) {
  CliHub cli;
  const CommandResult full =
      run_glimpse(cli.dir, cli.env(), std::string("pull ") + kTinyRepo, "trap '' XFSZ; ulimit -f 2048; ");
  EXPECT_EQ(full.exit_code, 1) << full.err;
  EXPECT_NE(full.err.find("File too large"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("The disk holding the cache is full"), std::string::npos) << full.err;
  EXPECT_EQ(full.out, "");

  const fs::path repo = fs::path(cli.cache()) / repo_folder_name(kTinyRepo);
  const std::string etag = testing::sha256_hex(cli.repo.files.at("model.safetensors").content);
  EXPECT_FALSE(fs::exists(repo / "blobs" / etag));
  EXPECT_FALSE(fs::exists(fs::path(cli.snapshot()) / "model.safetensors"));
  ASSERT_TRUE(fs::exists(repo / "blobs" / (etag + ".incomplete")));
  EXPECT_LE(fs::file_size(repo / "blobs" / (etag + ".incomplete")), 2048u * 1024u);

  // With room again, the next run resumes and completes.
  const CommandResult resumed = run_glimpse(cli.dir, cli.env(), std::string("pull -q ") + kTinyRepo);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::vector<std::uint8_t> bytes = testing::read_bytes(fs::path(cli.snapshot()) / "model.safetensors");
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), cli.repo.files.at("model.safetensors").content);
  EXPECT_TRUE(testing::partial_files(cli.cache()).empty());
}

}  // namespace
}  // namespace glimpse
