// `glimpse tokenize` and `glimpse detokenize`: the tokenizer of a model folder or a tokenizer.json
// on the command line, for checking ids against other implementations.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "glimpse/tokenizer.h"

namespace glimpse::cli {
namespace {

struct TokenizerSource {
  std::string model_dir;
  std::string tokenizer_file;
};

struct TokenizeArgs {
  TokenizerSource source;
  std::string text;
  std::string file;
  bool no_add_special = false;
  bool no_parse_special = false;
  bool json = false;
};

struct DetokenizeArgs {
  TokenizerSource source;
  std::string ids;
  std::string file;
  bool skip_special = false;
  bool json = false;
};

Result<Tokenizer> load_tokenizer(const TokenizerSource& source) {
  if (!source.model_dir.empty()) return Tokenizer::load_from_folder(source.model_dir);
  // A tokenizer_config.json next to the file supplies BOS/EOS settings, as in a model folder.
  const std::filesystem::path path(source.tokenizer_file);
  const std::filesystem::path config = path.parent_path() / "tokenizer_config.json";
  std::error_code error;
  if (std::filesystem::is_regular_file(config, error)) return Tokenizer::load(path, config);
  return Tokenizer::load(path);
}

Result<std::string> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open '" + path + "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Parses ids separated by commas and/or white space.
Result<std::vector<std::int32_t>> parse_ids(const std::string& text, const Tokenizer& tokenizer) {
  std::vector<std::int32_t> ids;
  std::string item;
  std::string normalized = text;
  for (char& c : normalized) {
    if (c == ',' || c == '\n' || c == '\t' || c == '\r' || c == '[' || c == ']') c = ' ';
  }
  std::istringstream stream(normalized);
  while (stream >> item) {
    std::size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 0 || value > INT32_MAX) {
      return make_error(ErrorCode::kInvalidArgument, "'" + item + "' is not a token id (a non-negative integer)");
    }
    const auto id = static_cast<std::int32_t>(value);
    if (!tokenizer.is_token(id)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "id " + item + " names no token; the vocabulary has ids 0 to " +
                            std::to_string(tokenizer.vocab_size() - 1) +
                            " (a model may have more embedding rows than tokens)");
    }
    ids.push_back(id);
  }
  return ids;
}

int run_tokenize(const TokenizeArgs& args) {
  auto tokenizer = load_tokenizer(args.source);
  if (!tokenizer.ok()) return report(tokenizer.error());
  std::string text = args.text;
  if (!args.file.empty()) {
    auto bytes = read_file_bytes(args.file);
    if (!bytes.ok()) return report(bytes.error());
    text = std::move(bytes).value();
  }
  EncodeOptions options;
  options.add_special_tokens = !args.no_add_special;
  options.parse_special_tokens = !args.no_parse_special;
  auto ids = tokenizer->encode(text, options);
  if (!ids.ok()) return report(ids.error());

  if (args.json) {
    nlohmann::json out;
    out["ids"] = *ids;
    out["pieces"] = nlohmann::json::array();
    for (const std::int32_t id : *ids) out["pieces"].push_back(std::string(tokenizer->token_to_piece(id).value_or("")));
    std::printf("%s\n", out.dump().c_str());
    return kExitOk;
  }
  for (const std::int32_t id : *ids) {
    const std::string piece(tokenizer->token_to_piece(id).value_or(""));
    // The piece is printed as a JSON string so that spaces, newlines and control bytes are visible.
    std::printf("%d\t%s\n", id, nlohmann::json(piece).dump().c_str());
  }
  return kExitOk;
}

int run_detokenize(const DetokenizeArgs& args) {
  auto tokenizer = load_tokenizer(args.source);
  if (!tokenizer.ok()) return report(tokenizer.error());
  std::string text = args.ids;
  if (!args.file.empty()) {
    auto bytes = read_file_bytes(args.file);
    if (!bytes.ok()) return report(bytes.error());
    text = std::move(bytes).value();
  }
  auto ids = parse_ids(text, *tokenizer);
  if (!ids.ok()) return report(ids.error());
  DecodeOptions options;
  options.skip_special_tokens = args.skip_special;
  const std::string decoded = tokenizer->decode(*ids, options);
  if (args.json) {
    nlohmann::json out;
    out["text"] = decoded;
    // Decoded text may hold U+FFFD but is always valid UTF-8, so dump() cannot throw here.
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::fwrite(decoded.data(), 1, decoded.size(), stdout);
    std::printf("\n");
  }
  return kExitOk;
}

void add_source_options(CLI::App& command, TokenizerSource& source) {
  auto* group = command.add_option_group("tokenizer", "Where the tokenizer comes from");
  group->add_option("-m,--model", source.model_dir, "Model folder containing tokenizer.json");
  group->add_option("--tokenizer", source.tokenizer_file,
                    "Path of a tokenizer.json (a tokenizer_config.json beside it is read too)");
  group->require_option(1);
}

}  // namespace

void add_text_commands(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  (void)global;
  auto tokenize_args = std::make_shared<TokenizeArgs>();
  auto* tokenize = app.add_subcommand("tokenize", "Print the token ids and pieces of a text");
  add_source_options(*tokenize, tokenize_args->source);
  auto* input = tokenize->add_option_group("input", "The text to tokenize");
  input->add_option("text", tokenize_args->text, "Text to tokenize");
  input->add_option("--file", tokenize_args->file, "Read the text from a file, as raw UTF-8 bytes");
  input->require_option(1);
  tokenize->add_flag("--no-add-special", tokenize_args->no_add_special,
                     "Do not add BOS/EOS from the post-processor (add_special_tokens=False)");
  tokenize->add_flag("--no-parse-special", tokenize_args->no_parse_special,
                     "Treat special-token strings such as </s> in the text as text (split_special_tokens=True)");
  tokenize->add_flag("--json", tokenize_args->json, "Print {\"ids\": [...], \"pieces\": [...]}");
  tokenize->callback([tokenize_args, &exit_code] { exit_code = run_tokenize(*tokenize_args); });

  auto detokenize_args = std::make_shared<DetokenizeArgs>();
  auto* detokenize = app.add_subcommand("detokenize", "Print the text of token ids");
  add_source_options(*detokenize, detokenize_args->source);
  auto* ids = detokenize->add_option_group("input", "The ids to decode");
  ids->add_option("ids", detokenize_args->ids, "Token ids separated by commas or spaces");
  ids->add_option("--file", detokenize_args->file, "Read the ids from a file");
  ids->require_option(1);
  detokenize->add_flag("--skip-special", detokenize_args->skip_special,
                       "Drop special tokens such as <s> and <image> (skip_special_tokens=True)");
  detokenize->add_flag("--json", detokenize_args->json, "Print {\"text\": \"...\"}");
  detokenize->callback([detokenize_args, &exit_code] { exit_code = run_detokenize(*detokenize_args); });
}

}  // namespace glimpse::cli
