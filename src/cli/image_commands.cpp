// `glimpse preprocess`: an image through glimpse's decoder and preprocessing into a NumPy .npy
// file, so that glimpse's view of an image can be compared with other tools.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "glimpse/image.h"
#include "glimpse/image_source.h"

namespace glimpse::cli {
namespace {

struct PreprocessArgs {
  std::string image;
  std::string model_dir;
  std::string mode;
  std::int64_t size = 0;
  bool no_exif_orientation = false;
  std::string output;
  std::string u8_output;
  ImageLoadOptions load;
};

// Returns a NumPy .npy (format version 1.0) file of little-endian float32 values with `shape`.
std::string npy_float32(const std::vector<float>& values, const std::vector<std::int64_t>& shape) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (std::int64_t dim : shape) header += std::to_string(dim) + ", ";
  header += "), }";
  // The magic, version and length take 10 bytes; NumPy pads the header with spaces and ends it
  // with a newline so that the data starts at a multiple of 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';

  std::string file("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(header.size() & 0xFF);
  file += static_cast<char>(header.size() >> 8);
  file += header;
  // glimpse builds for little-endian hosts only, like the model loader, so the floats are copied
  // as they are in memory.
  file.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return file;
}

Status write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(ErrorCode::kIoError, "cannot create output file '" + path + "'");
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) return make_error(ErrorCode::kIoError, "cannot write output file '" + path + "'");
  return {};
}

Result<PreprocessConfig> make_config(const PreprocessArgs& args) {
  PreprocessConfig config = PreprocessConfig::llava15();
  if (!args.model_dir.empty()) {
    GLIMPSE_ASSIGN_OR_RETURN(config, PreprocessConfig::from_model_folder(args.model_dir));
  }
  if (args.mode == "pad") config.mode = PreprocessMode::kPad;
  if (args.mode == "crop") config.mode = PreprocessMode::kCrop;
  if (args.size != 0) {
    if (args.size < 0) return make_error(ErrorCode::kInvalidArgument, "--size must be positive");
    config.set_square_size(args.size);
  }
  config.max_pixels = args.load.max_pixels;
  return config;
}

int run_preprocess(const PreprocessArgs& args) {
  ImageLoadOptions options = args.load;
  options.apply_exif_orientation = !args.no_exif_orientation;
  auto config = make_config(args);
  if (!config.ok()) return report(config.error());

  const ImageSource source = ImageSource::from_string(args.image);
  auto image = load_image(source, options);
  if (!image.ok()) return report(image.error());
  auto result = preprocess(*image, *config);
  if (!result.ok()) return report(result.error());

  const RgbImage& view = result->image;
  const std::vector<std::int64_t> shape = {3, view.height, view.width};
  if (Status written = write_file(args.output, npy_float32(result->pixel_values, shape)); !written.ok()) {
    return report(written.error());
  }
  if (!args.u8_output.empty()) {
    const std::string raw(reinterpret_cast<const char*>(view.pixels.data()), view.pixels.size());
    if (Status written = write_file(args.u8_output, raw); !written.ok()) return report(written.error());
  }
  std::printf("%s: float32 [3, %lld, %lld] from %s (%lldx%lld, %s mode)\n", args.output.c_str(),
              static_cast<long long>(view.height), static_cast<long long>(view.width), source.description().c_str(),
              static_cast<long long>(image->width), static_cast<long long>(image->height),
              std::string(preprocess_mode_name(config->mode)).c_str());
  return kExitOk;
}

}  // namespace

void add_image_commands(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  (void)global;
  auto args = std::make_shared<PreprocessArgs>();

  auto* command = app.add_subcommand(
      "preprocess", "Decode and preprocess an image for the model and write the float32 CHW tensor as .npy");
  command->add_option("image", args->image, "Image file, http(s) URL or data: URI")->required();
  command->add_option("-o,--output", args->output, "Output .npy file: float32, shape [3, N, N]")->required();
  command->add_option("-m,--model", args->model_dir,
                      "Model folder whose preprocessor_config.json sets size, mean and std "
                      "(default: the LLaVA-1.5 values, 336 pixels)");
  command->add_option("--mode", args->mode, "crop: resize the short side, then center crop (llava-hf); pad: pad to "
                                            "a square with the mean colour first (original LLaVA); default: the "
                                            "model's setting, else crop")
      ->check(CLI::IsMember({"crop", "pad"}));
  command->add_option("--size", args->size, "Output side in pixels: resize the short side to N, crop N x N");
  command->add_flag("--no-exif-orientation", args->no_exif_orientation,
                    "Use the pixels as stored, ignoring the EXIF orientation tag");
  command->add_option("--u8-output", args->u8_output,
                      "Also write the uint8 image before rescaling: raw R,G,B rows, N x N x 3 bytes");

  // Limits, with ImageLoadOptions' defaults.
  command->add_option("--max-bytes", args->load.max_bytes, "Largest encoded image accepted, in bytes")
      ->capture_default_str();
  command->add_option("--max-pixels", args->load.max_pixels,
                      "Largest decoded image accepted, in pixels (width x height)")
      ->capture_default_str();
  command->add_option("--url-connect-timeout-ms", args->load.url_connect_timeout_ms,
                      "URL download: time allowed to connect, in milliseconds")
      ->capture_default_str();
  command->add_option("--url-timeout-ms", args->load.url_timeout_ms,
                      "URL download: time allowed for the whole transfer, in milliseconds")
      ->capture_default_str();
  command->add_option("--url-max-redirects", args->load.url_max_redirects, "URL download: redirects followed")
      ->capture_default_str();
  command->add_option("--max-url-bytes", args->load.max_url_bytes, "URL download: largest response body, in bytes")
      ->capture_default_str();

  command->callback([args, &exit_code] { exit_code = run_preprocess(*args); });
}

}  // namespace glimpse::cli
