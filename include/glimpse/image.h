// Decoded images and the preprocessing steps that turn them into the model's input tensor.
//
// The steps reproduce Hugging Face's CLIPImageProcessor (the slow path, which resizes with
// Pillow) bit for bit: the same uint8 pixels after resize and crop, the same float32 tensor
// after rescale and normalize. The pad mode reproduces original LLaVA's `expand2square`.
// Decoding and image sources are declared in glimpse/image_source.h.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/status.h"

namespace glimpse {

// OpenAI CLIP's normalization constants, which llava-hf's preprocessor_config.json uses.
inline constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};

// An 8-bit RGB image: `pixels` contains height rows of width pixels of R, G, B (HWC, row-major,
// no row padding), so pixels.size() == height * width * 3.
struct RgbImage {
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::vector<std::uint8_t> pixels;

  // Returns an image of the given size with every pixel set to `color`. Sizes must be positive.
  static RgbImage filled(std::int64_t width, std::int64_t height, std::array<std::uint8_t, 3> color);

  std::size_t row_bytes() const { return static_cast<std::size_t>(width) * 3; }
  const std::uint8_t* row(std::int64_t y) const { return pixels.data() + static_cast<std::size_t>(y) * row_bytes(); }
  std::uint8_t* row(std::int64_t y) { return pixels.data() + static_cast<std::size_t>(y) * row_bytes(); }
};

// Checks that `image` has positive sizes and exactly height * width * 3 bytes. `name` names the
// image in the error.
Status validate_rgb_image(const RgbImage& image, const std::string& name);

// Pillow's resampling filters, numbered as PIL.Image.Resampling and as the `resample` field of
// a preprocessor_config.json.
enum class ResampleFilter {
  kNearest = 0,
  kLanczos = 1,
  kBilinear = 2,
  kBicubic = 3,
  kBox = 4,
  kHamming = 5,
};

// Returns Pillow's name of `filter` ("bicubic", "bilinear", ...).
std::string_view resample_filter_name(ResampleFilter filter);

// Resizes `image` to width x height the way Pillow's Image.resize does with the whole image as
// the source box and no reducing_gap. That is a separable convolution whose kernel is stretched
// by the scale factor when shrinking (antialiasing), with Pillow's 22-bit fixed-point weights.
// The horizontal pass runs first, and its result is rounded to uint8 before the vertical pass.
// The output equals Pillow's byte for byte for every filter except kNearest, which returns
// kUnsupported. An unchanged size returns a copy, as Pillow does.
Result<RgbImage> resize_like_pillow(const RgbImage& image, std::int64_t width, std::int64_t height,
                                    ResampleFilter filter);

// Cuts a width x height window out of the center of `image` like transformers'
// image_transforms.center_crop: the offsets are (H - height) // 2 and (W - width) // 2, so an odd
// remainder is cut from the bottom or right. Where the window is larger than the image, the
// image is first placed on a zero (black) canvas at offsets ceil((height - H) / 2) and
// ceil((width - W) / 2), as transformers does.
Result<RgbImage> center_crop(const RgbImage& image, std::int64_t width, std::int64_t height);

// Pastes `image` onto a square of side max(width, height) filled with `background`, centered
// with floor offsets, as original LLaVA's expand2square does. A square image is returned as a
// copy.
RgbImage expand_to_square(const RgbImage& image, std::array<std::uint8_t, 3> background);

// Rotates or mirrors `image` so that it appears upright, for an EXIF Orientation value, like
// Pillow's ImageOps.exif_transpose. 2 mirrors left-right, 3 rotates 180 degrees, 4 mirrors
// top-bottom, 5 transposes, 6 rotates 90 degrees clockwise, 7 transverses and 8 rotates 90
// degrees counter-clockwise. Orientation 1 and values outside 2-8 return the image unchanged.
RgbImage apply_exif_orientation(RgbImage image, int orientation);

// Whether the image is resized and center-cropped as it is (llava-hf's CLIPImageProcessor) or
// first padded to a square with the mean colour (original LLaVA's image_aspect_ratio "pad",
// transformers' LlavaImageProcessor with do_pad).
enum class PreprocessMode { kCrop, kPad };

// Returns "crop" or "pad".
std::string_view preprocess_mode_name(PreprocessMode mode);

// The fields of a preprocessor_config.json that decide the model's input tensor. The member
// defaults are llava-hf/llava-1.5-7b-hf's values; llava15() returns them.
struct PreprocessConfig {
  PreprocessMode mode = PreprocessMode::kCrop;

  // Resize target. With shortest_edge > 0 (size {"shortest_edge": N}) the shorter side becomes N
  // and the longer side int(N * long / short), keeping the aspect ratio. With shortest_edge == 0
  // the image is resized to exactly resize_width x resize_height (size {"height", "width"}).
  bool do_resize = true;
  std::int64_t shortest_edge = 336;
  std::int64_t resize_height = 0;
  std::int64_t resize_width = 0;
  ResampleFilter resample = ResampleFilter::kBicubic;

  bool do_center_crop = true;
  std::int64_t crop_height = 336;
  std::int64_t crop_width = 336;

  // x = float32(u8 * rescale_factor computed in double), then (x - mean) / std in float32.
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean = {0.48145466, 0.4578275, 0.40821073};
  std::array<double, 3> image_std = {0.26862954, 0.26130258, 0.27577711};

  // The largest image preprocessing may work on, in pixels: the pad-mode square, the resized
  // image and the crop. It is not read from preprocessor_config.json. It stops an image of
  // extreme aspect ratio, such as 1 x 50,000,000 pixels, from becoming a square of 2.5e15
  // pixels. The default equals ImageLoadOptions::max_pixels.
  std::int64_t max_pixels = 89'478'485;

  // llava-hf/llava-1.5-7b-hf's preprocessing: shortest edge 336, bicubic, center crop 336x336,
  // rescale 1/255, OpenAI CLIP mean and std, crop mode.
  static PreprocessConfig llava15();

  // Parses a preprocessor_config.json of a CLIPImageProcessor or LlavaImageProcessor. Fields the
  // file leaves out take that processor class's defaults in transformers (CLIP's: shortest edge
  // 224, crop 224x224, bicubic, rescale 1/255, CLIP mean and std). "do_pad": true selects the pad
  // mode. Other processor types (such as LlavaNextImageProcessor's tiling) return kUnsupported.
  // `source` names the input in errors.
  static Result<PreprocessConfig> parse(std::string_view json_text, const std::string& source);

  // Reads and parses `folder`/preprocessor_config.json.
  static Result<PreprocessConfig> from_model_folder(const std::string& folder);

  // Sets the resize target to shortest edge `size` and the crop to size x size, the meaning of
  // the command line's --size.
  void set_square_size(std::int64_t size);

  // Checks sizes, factors and the filter; preprocess() calls it first.
  Status validate() const;

  // The pad background: int(mean * 255) per channel, truncated as original LLaVA computes it
  // (122, 116, 104 for the CLIP mean).
  std::array<std::uint8_t, 3> pad_color() const;
};

// The model's view of one image.
struct PreprocessedImage {
  // The uint8 image after padding, resizing and cropping, right before rescaling.
  RgbImage image;
  // float32 [3, image.height, image.width], channel-major (CHW), rescaled and normalized. It
  // feeds LlavaModel directly as PixelTensor{pixel_values}.
  std::vector<float> pixel_values;
};

// Runs the preprocessing pipeline on a decoded image: pad to a square (pad mode), resize, center
// crop, then rescale and normalize into CHW float32.
Result<PreprocessedImage> preprocess(const RgbImage& image, const PreprocessConfig& config);

// Returns the size after the shortest-edge resize of a width x height image, as transformers'
// get_resize_output_image_size computes it without max_size: the short side becomes
// `shortest_edge`, the long side int(shortest_edge * long / short) (truncated).
std::array<std::int64_t, 2> shortest_edge_size(std::int64_t width, std::int64_t height, std::int64_t shortest_edge);

// Rescales and normalizes an RGB uint8 image [height, width, 3] (HWC) into a float32 tensor
// [3, height, width] (CHW), bit for bit as transformers' CLIPImageProcessor does it with numpy:
// x = float32(u8 * (1/255) computed in double), then (x - mean) / std in float32.
Result<std::vector<float>> normalize_rgb_to_chw(std::span<const std::uint8_t> pixels, std::int64_t height,
                                                std::int64_t width, const std::array<float, 3>& mean,
                                                const std::array<float, 3>& std_dev);

}  // namespace glimpse
