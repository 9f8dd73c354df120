// Encode throughput of the tokenizer in MB/s of UTF-8 input: SentencePiece-style BPE (LLaVA-1.5,
// from the test data) and byte-level BPE (Llama-3.1, from the shared fixtures when present).
// The input is the 105 reference test strings of the tokenizer fixtures joined with newlines and
// repeated to about 1 MB, so that it mixes English, code, CJK, emoji and byte-fallback text.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "glimpse/tokenizer.h"

namespace {

namespace fs = std::filesystem;

const fs::path kSource = GLIMPSE_SOURCE_DIR;

std::string bench_text() {
  std::ifstream in(kSource / "tests/data/tokenizer/cases_llama2.json");
  const nlohmann::json cases = nlohmann::json::parse(in)["cases"];
  std::string block;
  for (const nlohmann::json& c : cases) block += c["text"].get<std::string>() + "\n";
  std::string text;
  while (text.size() < (1u << 20)) text += block;
  return text;
}

void encode_benchmark(benchmark::State& state, const fs::path& tokenizer_json, const fs::path& config) {
  auto tokenizer = glimpse::Tokenizer::load(tokenizer_json, config);
  if (!tokenizer.ok()) {
    state.SkipWithError(tokenizer.error().to_string().c_str());
    return;
  }
  const std::string text = bench_text();
  std::size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tokenizer->encode(text);
    n_tokens = ids.ok() ? ids->size() : 0;
    benchmark::DoNotOptimize(ids);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

void BM_EncodeLlava15(benchmark::State& state) {
  encode_benchmark(state, kSource / "tests/data/tiny-llava/model-f16/tokenizer.json",
                   kSource / "tests/data/tiny-llava/model-f16/tokenizer_config.json");
}

void BM_EncodeLlama31(benchmark::State& state) {
  const fs::path folder = kSource / "../shared/fixtures/tokenizer/llama3_1";
  encode_benchmark(state, folder / "tokenizer.json", folder / "tokenizer_config.json");
}

void BM_DecodeLlava15(benchmark::State& state) {
  auto tokenizer = glimpse::Tokenizer::load_from_folder(kSource / "tests/data/tiny-llava/model-f16");
  if (!tokenizer.ok()) {
    state.SkipWithError(tokenizer.error().to_string().c_str());
    return;
  }
  const std::string text = bench_text();
  auto ids = tokenizer->encode(text);
  if (!ids.ok()) {
    state.SkipWithError(ids.error().to_string().c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer->decode(ids.value()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

BENCHMARK(BM_EncodeLlava15)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeLlama31)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeLlava15)->Unit(benchmark::kMillisecond);

}  // namespace
