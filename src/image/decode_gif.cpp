// GIF decoding with giflib: the first frame, placed on its logical screen the way Pillow 9.4 loads
// frame 0 (GifImagePlugin):
//   * the canvas is the logical screen, grown to hold the frame when the frame reaches past it;
//   * pixels outside the frame hold the transparent index of the frame's graphic control
//     extension, or index 0 when there is none;
//   * indices become colours through the local colour table, else the global one. An index past
//     the table, or any index when the file has no table, reads Pillow's grayscale ramp (i, i, i).
// Transparency does not change colours: convert("RGB") ignores it.
#include <gif_lib.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "image/decode.h"

namespace glimpse::image_internal {
namespace {

struct Input {
  std::span<const std::uint8_t> bytes;
  std::size_t offset = 0;
  bool gave_terminator = false;
};

// Copies the next bytes of the file. At its end it supplies one extra zero byte, a block
// terminator: Pillow accepts a file that stops right after the last data block of the frame, but
// giflib reads on to the terminator once the pixels are complete. A frame whose data really ends
// early still fails, because giflib rejects an empty block inside the pixel data.
int read_input(GifFileType* gif, GifByteType* out, int length) {
  auto* input = static_cast<Input*>(gif->UserData);
  if (length <= 0) return 0;
  std::size_t n = std::min(static_cast<std::size_t>(length), input->bytes.size() - input->offset);
  std::memcpy(out, input->bytes.data() + input->offset, n);
  input->offset += n;
  if (n < static_cast<std::size_t>(length) && !input->gave_terminator) {
    out[n++] = 0;
    input->gave_terminator = true;
  }
  return static_cast<int>(n);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

std::string gif_error(int code) {
  const char* text = GifErrorString(code);
  return text != nullptr ? text : "giflib error " + std::to_string(code);
}

using Palette = std::array<std::array<std::uint8_t, 3>, 256>;

Palette palette_for(const ColorMapObject* map) {
  Palette palette;
  for (int i = 0; i < 256; ++i) {
    const auto level = static_cast<std::uint8_t>(i);
    palette[static_cast<std::size_t>(i)] = {level, level, level};
  }
  if (map == nullptr || map->Colors == nullptr) return palette;
  for (int i = 0; i < map->ColorCount && i < 256; ++i) {
    palette[static_cast<std::size_t>(i)] = {map->Colors[i].Red, map->Colors[i].Green, map->Colors[i].Blue};
  }
  return palette;
}

// Pillow opens a GIF whose colour table is missing or maps every index i to (i, i, i) as mode L.
bool is_grayscale_ramp(const ColorMapObject* map) {
  if (map == nullptr || map->Colors == nullptr) return true;
  for (int i = 0; i < map->ColorCount; ++i) {
    const GifColorType& color = map->Colors[i];
    if (color.Red != i || color.Green != i || color.Blue != i) return false;
  }
  return true;
}

// Reads the rows of the current frame into `indices` (frame width x frame height), undoing the
// four-pass interlaced row order.
int read_frame_rows(GifFileType* gif, std::vector<GifPixelType>& indices) {
  const int width = gif->Image.Width;
  const int height = gif->Image.Height;
  auto row = [&](int y) { return indices.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(width); };
  if (!gif->Image.Interlace) {
    for (int y = 0; y < height; ++y) {
      if (DGifGetLine(gif, row(y), width) == GIF_ERROR) return gif->Error;
    }
    return 0;
  }
  constexpr int kStart[4] = {0, 4, 2, 1};
  constexpr int kStep[4] = {8, 8, 4, 2};
  for (int pass = 0; pass < 4; ++pass) {
    for (int y = kStart[pass]; y < height; y += kStep[pass]) {
      if (DGifGetLine(gif, row(y), width) == GIF_ERROR) return gif->Error;
    }
  }
  return 0;
}

}  // namespace

Result<DecodedImage> decode_gif(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                const std::string& name) {
  Input input{bytes, 0, false};
  int error = 0;
  const std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&input, read_input, &error));
  if (!gif) return invalid_data(name, "GIF", gif_error(error));

  int transparent_index = -1;
  for (;;) {
    GifRecordType record = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif.get(), &record) == GIF_ERROR) return invalid_data(name, "GIF", gif_error(gif->Error));
    if (record == TERMINATE_RECORD_TYPE) return invalid_data(name, "GIF", "the file has no image");

    if (record == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* block = nullptr;
      if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) {
        return invalid_data(name, "GIF", gif_error(gif->Error));
      }
      // Graphic control extension: block[0] is the length, block[1] the flags, block[4] the
      // transparent index, which counts when flag bit 0 is set.
      if (code == GRAPHICS_EXT_FUNC_CODE && block != nullptr && block[0] >= 4 && (block[1] & 1) != 0) {
        transparent_index = block[4];
      }
      while (block != nullptr) {
        if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) {
          return invalid_data(name, "GIF", gif_error(gif->Error));
        }
      }
      continue;
    }
    if (record != IMAGE_DESC_RECORD_TYPE) continue;

    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) return invalid_data(name, "GIF", gif_error(gif->Error));
    const GifImageDesc& frame = gif->Image;
    const std::int64_t right = static_cast<std::int64_t>(frame.Left) + frame.Width;
    const std::int64_t bottom = static_cast<std::int64_t>(frame.Top) + frame.Height;
    const std::int64_t width = std::max<std::int64_t>(gif->SWidth, right);
    const std::int64_t height = std::max<std::int64_t>(gif->SHeight, bottom);
    GLIMPSE_RETURN_IF_ERROR(check_image_size(width, height, options, name, "GIF"));
    if (frame.Width < 0 || frame.Height < 0 || frame.Left < 0 || frame.Top < 0) {
      return invalid_data(name, "GIF", "negative frame geometry");
    }

    std::vector<GifPixelType> indices(static_cast<std::size_t>(frame.Width) * static_cast<std::size_t>(frame.Height));
    if (const int code = read_frame_rows(gif.get(), indices); code != 0) {
      return invalid_data(name, "GIF", gif_error(code));
    }

    const ColorMapObject* map = frame.ColorMap != nullptr ? frame.ColorMap : gif->SColorMap;
    const Palette palette = palette_for(map);
    DecodedImage decoded;
    decoded.format = ImageFormat::kGif;
    decoded.pillow_mode = is_grayscale_ramp(map) ? "L" : "P";
    decoded.rgb = RgbImage::filled(width, height, palette[static_cast<std::size_t>(std::max(transparent_index, 0))]);
    for (int y = 0; y < frame.Height; ++y) {
      std::uint8_t* out = decoded.rgb.row(frame.Top + y) + static_cast<std::size_t>(frame.Left) * 3;
      const GifPixelType* in = indices.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(frame.Width);
      for (int x = 0; x < frame.Width; ++x) std::memcpy(out + 3 * x, palette[in[x]].data(), 3);
    }
    return decoded;
  }
}

}  // namespace glimpse::image_internal
