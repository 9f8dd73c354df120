// The preprocessing pipeline of transformers' CLIPImageProcessor (slow path) and original LLaVA's
// pad mode: [pad to square] -> resize -> center crop -> rescale -> normalize -> CHW.
#include <string>
#include <utility>

#include "glimpse/image.h"
#include "image/normalize.h"
#include "image/resample.h"

namespace glimpse {
namespace {

std::string size_text(std::int64_t width, std::int64_t height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

Status check_pixels(std::int64_t width, std::int64_t height, std::int64_t max_pixels, const std::string& subject) {
  if (width <= max_pixels / height) return {};
  // The sizes checked here are a square of side below 2^31, or a resize target with one side of at
  // most 16384 and the other below 2^46, so the product fits in 64 bits.
  const std::uint64_t pixels = static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(height);
  return make_error(ErrorCode::kOutOfRange, subject + " would be " + size_text(width, height) + " = " +
                                                std::to_string(pixels) + " pixels, more than max_pixels " +
                                                std::to_string(max_pixels) +
                                                "; raise PreprocessConfig::max_pixels if the image is trusted");
}

}  // namespace

std::array<std::int64_t, 2> shortest_edge_size(std::int64_t width, std::int64_t height, std::int64_t shortest_edge) {
  // transformers computes int(shortest_edge * long / short) with a correctly rounded float
  // division. A non-integer quotient lies at least 1/short below the next integer, and the
  // rounding error is at most quotient * 2^-53 < 1/short while shortest_edge * long < 2^53 (true
  // for edges up to 16384 and sides below 2^31), so the truncated integer quotient is the same.
  if (width <= height) return {shortest_edge, shortest_edge * height / width};
  return {shortest_edge * width / height, shortest_edge};
}

Result<PreprocessedImage> preprocess(const RgbImage& image, const PreprocessConfig& config) {
  GLIMPSE_RETURN_IF_ERROR(config.validate());
  GLIMPSE_RETURN_IF_ERROR(validate_rgb_image(image, "image to preprocess"));

  // Pad mode works on the expand2square result, generated row by row instead of stored.
  const image_internal::ImageRows stored_rows(image);
  const image_internal::SquarePadRows square_rows(image, config.pad_color());
  const bool pad = config.mode == PreprocessMode::kPad;
  const image_internal::RowSource& source =
      pad ? static_cast<const image_internal::RowSource&>(square_rows) : stored_rows;
  if (pad) GLIMPSE_RETURN_IF_ERROR(check_pixels(source.width(), source.height(), config.max_pixels, "the pad square"));

  std::int64_t resized_width = source.width();
  std::int64_t resized_height = source.height();
  if (config.do_resize) {
    if (config.shortest_edge > 0) {
      const auto size = shortest_edge_size(source.width(), source.height(), config.shortest_edge);
      resized_width = size[0];
      resized_height = size[1];
    } else {
      resized_width = config.resize_width;
      resized_height = config.resize_height;
    }
  }

  // A crop within the resized image only needs that window of the resize; any other case resizes
  // the whole image first.
  image_internal::OutputWindow window{0, 0, resized_width, resized_height};
  const bool crop = config.do_center_crop;
  const bool crop_inside = crop && config.crop_width <= resized_width && config.crop_height <= resized_height;
  if (crop_inside) {
    window = {(resized_width - config.crop_width) / 2, (resized_height - config.crop_height) / 2, config.crop_width,
              config.crop_height};
  }
  GLIMPSE_RETURN_IF_ERROR(check_pixels(window.width, window.height, config.max_pixels, "the resized image"));
  if (crop) {
    GLIMPSE_RETURN_IF_ERROR(check_pixels(config.crop_width, config.crop_height, config.max_pixels, "the center crop"));
  }

  PreprocessedImage result;
  GLIMPSE_ASSIGN_OR_RETURN(result.image, image_internal::resample_window(source, resized_width, resized_height,
                                                                         config.resample, window));
  if (crop && !crop_inside) {
    GLIMPSE_ASSIGN_OR_RETURN(result.image, center_crop(result.image, config.crop_width, config.crop_height));
  }

  std::array<float, 3> mean{};
  std::array<float, 3> std_dev{};
  for (std::size_t c = 0; c < 3; ++c) {
    // numpy casts the mean and std to the image's float32 dtype before normalizing.
    mean[c] = static_cast<float>(config.image_mean[c]);
    std_dev[c] = static_cast<float>(config.image_std[c]);
  }
  const image_internal::NormalizationTable table = image_internal::make_normalization_table(
      config.do_rescale, config.rescale_factor, config.do_normalize, mean, std_dev);
  const std::int64_t plane = result.image.width * result.image.height;
  result.pixel_values.resize(static_cast<std::size_t>(plane) * 3);
  image_internal::hwc_to_chw(result.image.pixels, plane, table, result.pixel_values.data());
  return result;
}

}  // namespace glimpse
