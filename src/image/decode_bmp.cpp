// BMP decoding, written for glimpse because no Debian codec library reads BMP; it follows Pillow's
// BmpImagePlugin (9.4) so that the pixels match Pillow's:
//   * headers of 12 (OS/2 1.x), 40, 64, 108 and 124 bytes; other sizes are rejected as in Pillow;
//   * 1, 4 and 8 bit palettes (BGRX entries, BGR for 12-byte headers), where an index past the
//     palette reads Pillow's grayscale ramp (i, i, i);
//   * 16 bit 5-5-5 (default) and 5-6-5 scaled as (v * 255) / 31 or / 63 with integer division, 24
//     bit BGR, 32 bit BGRX, and the BITFIELDS masks Pillow lists (alpha is dropped);
//   * RLE8 and RLE4 with Pillow's run, delta and end-of-line handling;
//   * bottom-up rows, or top-down when the height is negative.
// Three deliberate differences from Pillow 9.4, all on RLE files that it misreads or rejects:
//   * the delta escape reads its two offsets right after the escape (Pillow 9.4 to 12.1 read them
//     two bytes later; fixed in 12.2);
//   * an RLE4 absolute run of odd length keeps its last pixel and its padding (fixed in 12.3);
//   * RLE data that ends early leaves the remaining pixels at index 0 instead of failing.
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "image/decode.h"

namespace glimpse::image_internal {
namespace {

enum class Compression : std::uint32_t { kRaw = 0, kRle8 = 1, kRle4 = 2, kBitfields = 3 };

// The arrangement of one pixel in a raw row.
enum class Layout { kPalette1, kPalette4, kPalette8, kBgr15, kBgr16, kBgr, kBgrx, kXbgr, kRgba };

struct Header {
  std::int64_t width = 0;
  std::int64_t height = 0;
  bool top_down = false;
  int bits = 0;
  std::uint32_t compression = 0;
  std::uint32_t colors = 0;
  std::size_t palette_offset = 0;
  int palette_entry_bytes = 4;
  std::size_t pixel_offset = 0;
  Layout layout = Layout::kBgr;
  const char* pillow_mode = "RGB";
};

std::uint32_t u16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at] | (b[at + 1] << 8));
}
std::uint32_t u32(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) | (static_cast<std::uint32_t>(b[at + 1]) << 8) |
         (static_cast<std::uint32_t>(b[at + 2]) << 16) | (static_cast<std::uint32_t>(b[at + 3]) << 24);
}

// Picks the pixel layout for BI_BITFIELDS from the channel masks, from Pillow's table of
// supported masks.
Result<Layout> bitfields_layout(int bits, std::array<std::uint32_t, 4> masks, const std::string& name) {
  using Masks = std::array<std::uint32_t, 4>;
  if (bits == 32) {
    if (masks == Masks{0xFF0000, 0xFF00, 0xFF, 0}) return Layout::kBgrx;
    if (masks == Masks{0xFF000000, 0xFF0000, 0xFF00, 0} || masks == Masks{0xFF000000, 0xFF0000, 0xFF00, 0xFF}) {
      return Layout::kXbgr;
    }
    if (masks == Masks{0xFF, 0xFF00, 0xFF0000, 0xFF000000}) return Layout::kRgba;
    if (masks == Masks{0xFF0000, 0xFF00, 0xFF, 0xFF000000} || masks == Masks{0, 0, 0, 0}) return Layout::kBgrx;
  } else if (bits == 24 && masks[0] == 0xFF0000 && masks[1] == 0xFF00 && masks[2] == 0xFF) {
    return Layout::kBgr;
  } else if (bits == 16 && masks[0] == 0xF800 && masks[1] == 0x7E0 && masks[2] == 0x1F) {
    return Layout::kBgr16;
  } else if (bits == 16 && masks[0] == 0x7C00 && masks[1] == 0x3E0 && masks[2] == 0x1F) {
    return Layout::kBgr15;
  }
  return make_error(ErrorCode::kUnsupported, name + ": unsupported BMP bitfields layout for " + std::to_string(bits) +
                                                 " bits per pixel; Pillow and glimpse read 8-bit channel masks, "
                                                 "5-5-5 and 5-6-5");
}

Result<Header> read_header(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                           const std::string& name) {
  if (bytes.size() < 18) return invalid_data(name, "BMP", "the file header is truncated");
  Header header;
  header.pixel_offset = u32(bytes, 10);
  const std::uint32_t header_size = u32(bytes, 14);
  if (header_size != 12 && header_size != 40 && header_size != 64 && header_size != 108 && header_size != 124) {
    return make_error(ErrorCode::kUnsupported, name + ": unsupported BMP header of " + std::to_string(header_size) +
                                                   " bytes; Pillow and glimpse read 12, 40, 64, 108 and 124");
  }
  if (bytes.size() < 14 + static_cast<std::size_t>(header_size)) {
    return invalid_data(name, "BMP", "the info header is truncated");
  }
  const auto info = bytes.subspan(18);  // the info header after its size field
  std::size_t after_header = 14 + header_size;

  std::array<std::uint32_t, 4> masks{};
  if (header_size == 12) {
    header.width = u16(info, 0);
    header.height = u16(info, 2);
    header.bits = static_cast<int>(u16(info, 6));
    header.palette_entry_bytes = 3;
  } else {
    header.width = u32(info, 0);  // unsigned, as Pillow reads it
    const std::uint32_t raw_height = u32(info, 4);
    // Pillow takes the height as negative (top-down rows) when its top byte is 0xFF.
    header.top_down = (raw_height >> 24) == 0xFF;
    header.height = header.top_down ? (std::int64_t{1} << 32) - raw_height : raw_height;
    header.bits = static_cast<int>(u16(info, 10));
    header.compression = u32(info, 12);
    header.colors = u32(info, 28);
    if (header.compression == static_cast<std::uint32_t>(Compression::kBitfields)) {
      if (header_size >= 56) {
        for (std::size_t i = 0; i < 4; ++i) masks[i] = u32(info, 36 + 4 * i);
      } else {
        // A 40-byte header is followed by the three colour masks; there is no alpha mask.
        if (bytes.size() < after_header + 12) return invalid_data(name, "BMP", "the colour masks are truncated");
        for (std::size_t i = 0; i < 3; ++i) masks[i] = u32(bytes, after_header + 4 * i);
        after_header += 12;
      }
    }
  }
  GLIMPSE_RETURN_IF_ERROR(check_image_size(header.width, header.height, options, name, "BMP"));

  const std::uint64_t colors = header.colors != 0 ? header.colors : (header.bits < 32 ? (1ull << header.bits) : 0);
  if (header.pixel_offset == 14 + header_size && header.bits <= 8) header.pixel_offset += 4 * colors;

  switch (header.bits) {
    case 1: header.layout = Layout::kPalette1; break;
    case 4: header.layout = Layout::kPalette4; break;
    case 8: header.layout = Layout::kPalette8; break;
    case 16: header.layout = Layout::kBgr15; break;
    case 24: header.layout = Layout::kBgr; break;
    case 32: header.layout = Layout::kBgrx; break;
    default:
      return make_error(ErrorCode::kUnsupported, name + ": unsupported BMP depth of " + std::to_string(header.bits) +
                                                     " bits per pixel; Pillow and glimpse read 1, 4, 8, 16, 24 and 32");
  }

  switch (header.compression) {
    case static_cast<std::uint32_t>(Compression::kRaw): break;
    case static_cast<std::uint32_t>(Compression::kRle8):
    case static_cast<std::uint32_t>(Compression::kRle4):
      if (header.bits > 8) {
        return invalid_data(name, "BMP", "RLE compression with " + std::to_string(header.bits) +
                                             " bits per pixel; RLE needs a palette");
      }
      break;
    case static_cast<std::uint32_t>(Compression::kBitfields): {
      GLIMPSE_ASSIGN_OR_RETURN(header.layout, bitfields_layout(header.bits, masks, name));
      const bool alpha = header.bits == 32 && (masks[3] != 0 || masks == std::array<std::uint32_t, 4>{});
      if (alpha) header.pillow_mode = "RGBA";
      break;
    }
    default:
      return make_error(ErrorCode::kUnsupported, name + ": unsupported BMP compression " +
                                                     std::to_string(header.compression) +
                                                     "; Pillow and glimpse read uncompressed, RLE8, RLE4 and bitfields");
  }

  if (header.bits <= 8) {
    header.pillow_mode = "P";
    if (colors == 0 || colors > 256) {
      return make_error(ErrorCode::kUnsupported, name + ": BMP palette of " + std::to_string(colors) +
                                                     " colours; expected 1 to 256");
    }
    header.colors = static_cast<std::uint32_t>(colors);
    header.palette_offset = after_header;
    if (bytes.size() < header.palette_offset + colors * static_cast<std::uint64_t>(header.palette_entry_bytes)) {
      return invalid_data(name, "BMP", "the palette is truncated");
    }
  }
  return header;
}

using Palette = std::array<std::array<std::uint8_t, 3>, 256>;

Palette read_palette(std::span<const std::uint8_t> bytes, const Header& header) {
  Palette palette;
  for (int i = 0; i < 256; ++i) {
    const auto level = static_cast<std::uint8_t>(i);
    palette[static_cast<std::size_t>(i)] = {level, level, level};
  }
  for (std::uint32_t i = 0; i < header.colors && header.bits <= 8; ++i) {
    const std::uint8_t* entry = bytes.data() + header.palette_offset + i * header.palette_entry_bytes;
    palette[i] = {entry[2], entry[1], entry[0]};  // stored B, G, R
  }
  return palette;
}

// Returns the mode Pillow opens a palette BMP in: "1" when its 2 colours are black and white, "L"
// when colour i is (i, i, i) for every entry, else "P". The pixels are the same in every mode.
const char* palette_mode(std::span<const std::uint8_t> bytes, const Header& header) {
  bool gray = true;
  for (std::uint32_t i = 0; i < header.colors && gray; ++i) {
    const std::uint8_t level = header.colors == 2 ? static_cast<std::uint8_t>(i * 255) : static_cast<std::uint8_t>(i);
    const std::uint8_t* entry = bytes.data() + header.palette_offset + i * header.palette_entry_bytes;
    gray = entry[0] == level && entry[1] == level && entry[2] == level;
  }
  if (!gray) return "P";
  return header.colors == 2 ? "1" : "L";
}

// Converts one raw row (file order) to RGB.
void convert_row(const std::uint8_t* in, std::int64_t width, Layout layout, const Palette& palette, std::uint8_t* out) {
  for (std::int64_t x = 0; x < width; ++x) {
    std::uint8_t* pixel = out + 3 * x;
    switch (layout) {
      case Layout::kPalette1:
      case Layout::kPalette4:
      case Layout::kPalette8: {
        std::uint8_t index = 0;
        if (layout == Layout::kPalette1) {
          index = (in[x / 8] >> (7 - x % 8)) & 1;
        } else if (layout == Layout::kPalette4) {
          index = (x % 2 == 0) ? (in[x / 2] >> 4) : (in[x / 2] & 15);
        } else {
          index = in[x];
        }
        std::memcpy(pixel, palette[index].data(), 3);
        break;
      }
      case Layout::kBgr15:
      case Layout::kBgr16: {
        const unsigned value = in[2 * x] | (in[2 * x + 1] << 8);
        const bool six_bit_green = layout == Layout::kBgr16;
        pixel[2] = static_cast<std::uint8_t>((value & 31) * 255 / 31);
        pixel[1] = static_cast<std::uint8_t>(six_bit_green ? ((value >> 5) & 63) * 255 / 63 : ((value >> 5) & 31) * 255 / 31);
        pixel[0] = static_cast<std::uint8_t>(((value >> (six_bit_green ? 11 : 10)) & 31) * 255 / 31);
        break;
      }
      case Layout::kBgr:
        pixel[0] = in[3 * x + 2];
        pixel[1] = in[3 * x + 1];
        pixel[2] = in[3 * x];
        break;
      case Layout::kBgrx:
        pixel[0] = in[4 * x + 2];
        pixel[1] = in[4 * x + 1];
        pixel[2] = in[4 * x];
        break;
      case Layout::kXbgr:
        pixel[0] = in[4 * x + 3];
        pixel[1] = in[4 * x + 2];
        pixel[2] = in[4 * x + 1];
        break;
      case Layout::kRgba:
        std::memcpy(pixel, in + 4 * x, 3);
        break;
    }
  }
}

// Expands RLE8 or RLE4 data into one palette index per pixel, rows in file order, as Pillow's
// BmpRleDecoder does.
std::vector<std::uint8_t> expand_rle(std::span<const std::uint8_t> bytes, std::size_t offset, const Header& header) {
  const bool rle4 = header.compression == static_cast<std::uint32_t>(Compression::kRle4);
  const auto width = static_cast<std::size_t>(header.width);
  const std::size_t total = width * static_cast<std::size_t>(header.height);
  std::vector<std::uint8_t> indices;
  indices.reserve(total);
  std::size_t at = offset;
  std::size_t x = 0;
  auto append = [&](std::uint8_t value, std::size_t count) {
    count = std::min(count, total - indices.size());
    indices.insert(indices.end(), count, value);
  };
  while (indices.size() < total && at + 2 <= bytes.size()) {
    const std::size_t count = bytes[at];
    const std::uint8_t value = bytes[at + 1];
    at += 2;
    if (count > 0) {
      // Encoded run, cut at the end of the row. RLE4 runs alternate the byte's two nibbles.
      std::size_t n = count;
      if (x + count > width) n = x < width ? width - x : 0;
      for (std::size_t i = 0; i < n && indices.size() < total; ++i) {
        std::uint8_t index = value;
        if (rle4) index = (i % 2 == 0) ? value >> 4 : value & 15;
        indices.push_back(index);
      }
      x += n;
    } else if (value == 0) {  // end of line
      append(0, (width - indices.size() % width) % width);
      x = 0;
    } else if (value == 1) {  // end of bitmap
      break;
    } else if (value == 2) {  // delta: skip right and up
      if (at + 2 > bytes.size()) break;
      append(0, bytes[at] + static_cast<std::size_t>(bytes[at + 1]) * width);
      at += 2;
      x = indices.size() % width;
    } else {  // absolute run of `value` pixels
      const std::size_t n = std::min<std::size_t>(value, total - indices.size());
      const std::size_t n_bytes = rle4 ? (n + 1) / 2 : n;
      const std::size_t available = std::min(n_bytes, bytes.size() - at);
      for (std::size_t i = 0; i < available; ++i) {
        const std::uint8_t byte = bytes[at + i];
        if (!rle4) {
          indices.push_back(byte);
          continue;
        }
        indices.push_back(byte >> 4);
        if (2 * i + 1 < n) indices.push_back(byte & 15);
      }
      at += available;
      if (available < n_bytes || indices.size() == total) break;
      x += value;
      if (at % 2 != 0) ++at;  // runs are padded to 16-bit words of the file
    }
  }
  indices.resize(total, 0);
  return indices;
}

}  // namespace

Result<DecodedImage> decode_bmp(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                const std::string& name) {
  GLIMPSE_ASSIGN_OR_RETURN(const Header header, read_header(bytes, options, name));
  const Palette palette = read_palette(bytes, header);

  DecodedImage decoded;
  decoded.format = ImageFormat::kBmp;
  decoded.pillow_mode = header.bits <= 8 ? palette_mode(bytes, header) : header.pillow_mode;
  RgbImage& rgb = decoded.rgb;
  rgb.width = header.width;
  rgb.height = header.height;
  rgb.pixels.resize(static_cast<std::size_t>(header.width * header.height) * 3);
  auto output_row = [&](std::int64_t file_row) { return rgb.row(header.top_down ? file_row : header.height - 1 - file_row); };

  if (header.compression == static_cast<std::uint32_t>(Compression::kRle8) ||
      header.compression == static_cast<std::uint32_t>(Compression::kRle4)) {
    if (header.pixel_offset > bytes.size()) return invalid_data(name, "BMP", "the pixel data offset is past the end");
    const std::vector<std::uint8_t> indices = expand_rle(bytes, header.pixel_offset, header);
    for (std::int64_t y = 0; y < header.height; ++y) {
      convert_row(indices.data() + y * header.width, header.width, Layout::kPalette8, palette, output_row(y));
    }
    return decoded;
  }

  // Rows are padded to 4 bytes; the last row needs only its pixels.
  const std::uint64_t row_bytes = (static_cast<std::uint64_t>(header.width) * header.bits + 7) / 8;
  const std::uint64_t stride = ((static_cast<std::uint64_t>(header.width) * header.bits + 31) >> 3) & ~std::uint64_t{3};
  const std::uint64_t needed = stride * static_cast<std::uint64_t>(header.height - 1) + row_bytes;
  if (header.pixel_offset > bytes.size() || bytes.size() - header.pixel_offset < needed) {
    return invalid_data(name, "BMP", "the pixel data is truncated: " + std::to_string(needed) + " bytes needed at offset " +
                                         std::to_string(header.pixel_offset) + ", the file has " +
                                         std::to_string(bytes.size()));
  }
  for (std::int64_t y = 0; y < header.height; ++y) {
    const std::uint8_t* in = bytes.data() + header.pixel_offset + static_cast<std::size_t>(y) * stride;
    convert_row(in, header.width, header.layout, palette, output_row(y));
  }
  return decoded;
}

}  // namespace glimpse::image_internal
