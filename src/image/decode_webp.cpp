// WebP decoding with libwebp's animation decoder, as Pillow 9.4 decodes every WebP file (still or
// animated): the first frame composed on the canvas in non-premultiplied RGBA, then the alpha
// dropped. The EXIF orientation comes from the EXIF chunk.
#include <webp/decode.h>
#include <webp/demux.h>

#include <cstring>
#include <memory>
#include <string>

#include "image/decode.h"

namespace glimpse::image_internal {
namespace {

struct DemuxerDeleter {
  void operator()(WebPDemuxer* demuxer) const { WebPDemuxDelete(demuxer); }
};
struct AnimDecoderDeleter {
  void operator()(WebPAnimDecoder* decoder) const { WebPAnimDecoderDelete(decoder); }
};

}  // namespace

Result<DecodedImage> decode_webp(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                 const std::string& name) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (status == VP8_STATUS_NOT_ENOUGH_DATA) return invalid_data(name, "WebP", "the data ends early (truncated file)");
  if (status != VP8_STATUS_OK) return invalid_data(name, "WebP", "unreadable header (libwebp status " +
                                                                     std::to_string(static_cast<int>(status)) + ")");

  const WebPData data{bytes.data(), bytes.size()};
  // The demuxer only accepts a complete file and validates the container; the canvas size it
  // reports is checked before the animation decoder allocates the canvas.
  const std::unique_ptr<WebPDemuxer, DemuxerDeleter> demuxer(WebPDemux(&data));
  if (!demuxer) return invalid_data(name, "WebP", "invalid or truncated RIFF container");
  const std::int64_t width = WebPDemuxGetI(demuxer.get(), WEBP_FF_CANVAS_WIDTH);
  const std::int64_t height = WebPDemuxGetI(demuxer.get(), WEBP_FF_CANVAS_HEIGHT);
  GLIMPSE_RETURN_IF_ERROR(check_image_size(width, height, options, name, "WebP"));

  DecodedImage decoded;
  decoded.format = ImageFormat::kWebp;
  decoded.pillow_mode = features.has_alpha ? "RGBA" : "RGB";
  WebPChunkIterator chunk;
  if (WebPDemuxGetChunk(demuxer.get(), "EXIF", 1, &chunk) != 0) {
    decoded.exif_orientation = exif_orientation({chunk.chunk.bytes, chunk.chunk.size}).value_or(0);
    WebPDemuxReleaseChunkIterator(&chunk);
  }

  WebPAnimDecoderOptions decoder_options;
  if (WebPAnimDecoderOptionsInit(&decoder_options) == 0) {
    return make_error(ErrorCode::kInternal, name + ": libwebp's animation decoder has an incompatible version");
  }
  decoder_options.color_mode = MODE_RGBA;
  decoder_options.use_threads = 0;
  const std::unique_ptr<WebPAnimDecoder, AnimDecoderDeleter> decoder(WebPAnimDecoderNew(&data, &decoder_options));
  if (!decoder) return invalid_data(name, "WebP", "libwebp cannot decode the frames");
  std::uint8_t* canvas = nullptr;
  int timestamp = 0;
  if (WebPAnimDecoderGetNext(decoder.get(), &canvas, &timestamp) == 0 || canvas == nullptr) {
    return invalid_data(name, "WebP", "the first frame is corrupt or truncated");
  }

  RgbImage& rgb = decoded.rgb;
  rgb.width = width;
  rgb.height = height;
  const std::size_t n_pixels = static_cast<std::size_t>(width * height);
  rgb.pixels.resize(n_pixels * 3);
  for (std::size_t i = 0; i < n_pixels; ++i) std::memcpy(rgb.pixels.data() + 3 * i, canvas + 4 * i, 3);
  return decoded;
}

}  // namespace glimpse::image_internal
