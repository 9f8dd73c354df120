// `glimpse tokenize` and `glimpse detokenize`, run as a user runs them.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

#include "support/test_support.h"

namespace glimpse {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout followed by stderr
};

CommandResult run(const std::string& arguments) {
  const std::string command = std::string(GLIMPSE_CLI_PATH) + " " + arguments + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string model() { return (testing::test_data_dir() / "tiny-llava" / "model-f16").string(); }

TEST(TextCli, TokenizeJson) {
  const CommandResult result = run("tokenize -m " + model() + " --json 'Hello world'");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "{\"ids\":[1,15043,3186],\"pieces\":[\"<s>\",\"▁Hello\",\"▁world\"]}\n");
}

TEST(TextCli, TokenizeFlags) {
  CommandResult result = run("tokenize -m " + model() + " --no-add-special --json '<image>'");
  EXPECT_EQ(result.output, "{\"ids\":[32000],\"pieces\":[\"<image>\"]}\n");
  result = run("tokenize -m " + model() + " --no-add-special --no-parse-special --json 'a</s>'");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.find("32000"), std::string::npos);
  EXPECT_EQ(result.output.find(",2,"), std::string::npos);
  EXPECT_NE(result.output.find("\"</\""), std::string::npos) << result.output;
}

TEST(TextCli, TokenizeTextOutputAndFile) {
  testing::TempDir dir;
  testing::write_text(dir.path() / "in.txt", "Hi\n");
  const CommandResult result = run("tokenize --tokenizer " + model() + "/tokenizer.json --file " +
                                   (dir.path() / "in.txt").string());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "1\t\"<s>\"\n6324\t\"▁Hi\"\n13\t\"<0x0A>\"\n");
}

TEST(TextCli, Detokenize) {
  CommandResult result = run("detokenize -m " + model() + " 1,15043,3186");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "<s> Hello world\n");
  result = run("detokenize -m " + model() + " --skip-special --json '1 15043 32000 3186'");
  EXPECT_EQ(result.output, "{\"text\":\"Hello world\"}\n");
}

TEST(TextCli, RejectsBadInput) {
  CommandResult result = run("detokenize -m " + model() + " 1,32005");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.output.find("id 32005 names no token"), std::string::npos) << result.output;
  result = run("detokenize -m " + model() + " 1,x");
  EXPECT_EQ(result.exit_code, 3);
  testing::TempDir dir;
  result = run("tokenize -m " + dir.path().string() + " hi");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.output.find("no tokenizer.json"), std::string::npos) << result.output;
  testing::write_text(dir.path() / "bad.txt", "ok \xFF");
  result = run("tokenize -m " + model() + " --file " + (dir.path() / "bad.txt").string());
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.output.find("not valid UTF-8"), std::string::npos) << result.output;
  result = run("tokenize hi");
  EXPECT_EQ(result.exit_code, 2) << result.output;
}

}  // namespace
}  // namespace glimpse
