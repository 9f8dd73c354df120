// Image decoding and preprocessing on a 12-megapixel JPEG (4000x3000) and a 1920x1080 JPEG: the
// steps transformers' CLIPImageProcessor runs, in the LLaVA-1.5 configuration (336 pixels, crop or
// pad mode). bench/image/compare_with_pillow.py times Pillow doing the same steps.
#include <benchmark/benchmark.h>

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "glimpse/image.h"
#include "glimpse/image_source.h"

namespace {

using namespace glimpse;

const char* const kImages[] = {"jpeg_4000x3000_lowq.jpg", "jpeg_1920x1080.jpg"};

std::string image_path(std::int64_t index) {
  return std::string(GLIMPSE_BENCH_IMAGE_DIR) + "/" + kImages[static_cast<std::size_t>(index)];
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

PreprocessConfig config_for(std::int64_t mode) {
  PreprocessConfig config = PreprocessConfig::llava15();
  config.mode = mode == 0 ? PreprocessMode::kCrop : PreprocessMode::kPad;
  return config;
}

void label(benchmark::State& state) {
  state.SetLabel(std::string(kImages[static_cast<std::size_t>(state.range(0))]) + " " +
                 (state.range(1) == 0 ? "crop" : "pad"));
}

// The whole path from file to tensor: read, decode, EXIF orientation, resize, crop or pad,
// rescale and normalize.
void BM_FileToTensor(benchmark::State& state) {
  const ImageSource source = ImageSource::from_path(image_path(state.range(0)));
  const PreprocessConfig config = config_for(state.range(1));
  for (auto _ : state) {
    auto image = load_image(source);
    if (!image.ok()) throw std::runtime_error(image.error().to_string());
    auto result = preprocess(*image, config);
    if (!result.ok()) throw std::runtime_error(result.error().to_string());
    benchmark::DoNotOptimize(result->pixel_values.data());
  }
  label(state);
}

void BM_Decode(benchmark::State& state) {
  const std::vector<std::uint8_t> bytes = read_file(image_path(state.range(0)));
  for (auto _ : state) {
    auto decoded = decode_image(bytes, {}, "bench");
    if (!decoded.ok()) throw std::runtime_error(decoded.error().to_string());
    benchmark::DoNotOptimize(decoded->rgb.pixels.data());
  }
  state.SetLabel(kImages[static_cast<std::size_t>(state.range(0))]);
}

// Resize, crop or pad, rescale and normalize of an already decoded image.
void BM_Preprocess(benchmark::State& state) {
  auto image = load_image(ImageSource::from_path(image_path(state.range(0))));
  if (!image.ok()) throw std::runtime_error(image.error().to_string());
  const PreprocessConfig config = config_for(state.range(1));
  for (auto _ : state) {
    auto result = preprocess(*image, config);
    if (!result.ok()) throw std::runtime_error(result.error().to_string());
    benchmark::DoNotOptimize(result->pixel_values.data());
  }
  label(state);
}

BENCHMARK(BM_FileToTensor)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Preprocess)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMillisecond);

}  // namespace
