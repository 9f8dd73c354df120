// EXIF and XMP orientation, read with libexif.
#include <libexif/exif-data.h>

#include <cstring>
#include <memory>
#include <vector>

#include "image/decode.h"

namespace glimpse::image_internal {
namespace {

constexpr std::uint8_t kExifSignature[6] = {'E', 'x', 'i', 'f', 0, 0};

struct ExifDataDeleter {
  void operator()(ExifData* data) const { exif_data_unref(data); }
};

}  // namespace

std::optional<int> exif_orientation(std::span<const std::uint8_t> exif) {
  if (exif.empty()) return std::nullopt;
  // libexif expects the APP1 signature in front of the TIFF header; PNG eXIf and WebP EXIF
  // chunks usually hold the bare TIFF header.
  std::vector<std::uint8_t> block;
  if (exif.size() < sizeof(kExifSignature) || std::memcmp(exif.data(), kExifSignature, sizeof(kExifSignature)) != 0) {
    block.assign(std::begin(kExifSignature), std::end(kExifSignature));
  }
  block.insert(block.end(), exif.begin(), exif.end());
  if (block.size() > 0xFFFFFFFFu) return std::nullopt;

  const std::unique_ptr<ExifData, ExifDataDeleter> data(exif_data_new());
  if (!data) return std::nullopt;
  // Read the tags as stored: no tags dropped as unknown, none added or changed to follow the
  // specification (that pass may insert a default Orientation).
  exif_data_unset_option(data.get(), EXIF_DATA_OPTION_IGNORE_UNKNOWN_TAGS);
  exif_data_unset_option(data.get(), EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
  exif_data_set_option(data.get(), EXIF_DATA_OPTION_DONT_CHANGE_MAKER_NOTE);
  exif_data_load_data(data.get(), block.data(), static_cast<unsigned int>(block.size()));

  // Pillow declares Orientation as a single SHORT and keeps the first value when a file stores
  // more; a BYTE value stays a bytes object in Pillow and never counts as an orientation.
  ExifEntry* entry = exif_content_get_entry(data->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
  if (entry == nullptr || entry->components < 1 || entry->data == nullptr) return std::nullopt;
  const ExifByteOrder order = exif_data_get_byte_order(data.get());
  const std::size_t unit = exif_format_get_size(entry->format);
  if (unit == 0 || entry->size < unit) return std::nullopt;
  std::int64_t value = 0;
  switch (entry->format) {
    case EXIF_FORMAT_SHORT: value = exif_get_short(entry->data, order); break;
    case EXIF_FORMAT_SSHORT: value = exif_get_sshort(entry->data, order); break;
    case EXIF_FORMAT_LONG: value = exif_get_long(entry->data, order); break;
    case EXIF_FORMAT_SLONG: value = exif_get_slong(entry->data, order); break;
    default: return std::nullopt;
  }
  if (value < 0 || value > 0xFFFF) return std::nullopt;
  return static_cast<int>(value);
}

std::optional<int> xmp_orientation(std::string_view xmp) {
  constexpr std::string_view kTag = "tiff:Orientation";
  for (std::size_t at = xmp.find(kTag); at != std::string_view::npos; at = xmp.find(kTag, at + 1)) {
    std::size_t digit = at + kTag.size();
    if (xmp.substr(digit, 2) == "=\"") {
      digit += 2;
    } else if (xmp.substr(digit, 1) == ">") {
      digit += 1;
    } else {
      continue;
    }
    if (digit < xmp.size() && xmp[digit] >= '0' && xmp[digit] <= '9') return xmp[digit] - '0';
  }
  return std::nullopt;
}

}  // namespace glimpse::image_internal
