#!/usr/bin/python3
"""Writes tests/data/preprocess/extra: small images in the format variants that the shared
fixture does not cover, each with the pixels Pillow decodes from it, plus resize and
preprocessing references computed with Pillow.

Run with Debian 12's /usr/bin/python3 (python3-pil 9.4.0, python3-numpy 1.24), the same Pillow,
libjpeg-turbo, zlib and libwebp that produced the shared fixture:

    /usr/bin/python3 tests/data/preprocess/make_extra_cases.py

Files that Pillow cannot write (BMP bitfields and RLE, interlaced or low-bit-depth PNG, GIF frame
offsets) are assembled here byte by byte; their expected pixels still come from Pillow reading
them. Output is deterministic.
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "extra")
RNG = np.random.default_rng(20240604)


def test_pattern(width, height, seed):
    """An RGB pattern with gradients, noise and distinct corners, so that any flip shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    g = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    b = rng.integers(0, 256, (height, width), dtype=np.uint8)
    pixels = np.stack([r, g, b], axis=-1)
    pixels[0, 0] = (255, 0, 0)
    pixels[0, -1] = (0, 255, 0)
    pixels[-1, 0] = (0, 0, 255)
    pixels[-1, -1] = (255, 255, 255)
    return pixels


def exif_bytes(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# ---------------------------------------------------------------- PNG writer for what Pillow can't


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(samples, bit_depth):
    """Packs one row of integer samples at `bit_depth` bits, big-endian."""
    if bit_depth == 8:
        return bytes(int(v) for v in samples)
    if bit_depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    out = bytearray()
    per_byte = 8 // bit_depth
    for i in range(0, len(samples), per_byte):
        byte = 0
        group = list(samples[i:i + per_byte]) + [0] * (per_byte - len(samples[i:i + per_byte]))
        for v in group:
            byte = (byte << bit_depth) | int(v)
        out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, samples, color_type, bit_depth, palette=None, trns=None, interlace=False, chunks=()):
    """samples: array [height, width, channels] of integer sample values."""
    height, width = samples.shape[:2]
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        for y in range(y0, height, dy):
            row = samples[y, x0::dx].reshape(-1)
            if row.size == 0:
                continue
            raw += b"\x00" + pack_row(row, bit_depth)
    data = b"\x89PNG\r\n\x1a\n"
    data += png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        data += png_chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        data += png_chunk(b"tRNS", trns)
    for kind, payload in chunks:
        data += png_chunk(kind, payload)
    data += png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    data += png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- BMP writer for what Pillow can't


def write_bmp(path, width, height, bits, pixel_rows, header_size=40, compression=0, colors=0, palette=b"",
              masks=None, top_down=False, palette_entry=4, raw_pixel_data=None):
    """pixel_rows: list of byte strings, one per row in file order (each unpadded)."""
    if raw_pixel_data is None:
        stride = ((width * bits + 31) >> 3) & ~3
        raw_pixel_data = b"".join(row + b"\x00" * (stride - len(row)) for row in pixel_rows)
    if header_size == 12:
        info = struct.pack("<IHHHH", 12, width, height, 1, bits)
    else:
        info = struct.pack("<IiiHHIIiiII", header_size, width, -height if top_down else height, 1, bits, compression,
                           len(raw_pixel_data), 2835, 2835, colors, 0)
        if header_size >= 56:
            info += struct.pack("<IIII", *(masks or (0, 0, 0, 0)))
        info += b"\x00" * (header_size - len(info))
    extra = b""
    if masks is not None and header_size == 40:
        extra = struct.pack("<III", *masks[:3])
    offset = 14 + len(info) + len(extra) + len(palette)
    file_header = b"BM" + struct.pack("<IHHI", offset + len(raw_pixel_data), 0, 0, offset)
    with open(path, "wb") as f:
        f.write(file_header + info + extra + palette + raw_pixel_data)


def rgb16(pixels, green_bits):
    rows = []
    for row in pixels:
        out = bytearray()
        for r, g, b in row:
            if green_bits == 5:
                value = ((int(r) >> 3) << 10) | ((int(g) >> 3) << 5) | (int(b) >> 3)
            else:
                value = ((int(r) >> 3) << 11) | ((int(g) >> 2) << 5) | (int(b) >> 3)
            out += struct.pack("<H", value)
        rows.append(bytes(out))
    return rows


def rle8(indices):
    """Encodes rows (file order) with runs, absolute runs and end-of-line markers. No delta escape:
    Pillow 9.4 to 12.1 read its offsets from the wrong file position (the C++ tests cover it)."""
    out = bytearray()
    for row in indices:
        row = list(row)
        x = 0
        while x < len(row):
            run = 1
            while x + run < len(row) and row[x + run] == row[x] and run < 255:
                run += 1
            if run >= 2:
                out += bytes([run, row[x]])
                x += run
            else:
                n = min(len(row) - x, 5)
                if n >= 3:
                    out += bytes([0, n]) + bytes(row[x:x + n])
                    if n % 2:
                        out += b"\x00"
                    x += n
                else:
                    out += bytes([1, row[x]])
                    x += 1
        out += bytes([0, 0])
    out += bytes([0, 1])
    return bytes(out)


# ---------------------------------------------------------------- cases


def main():
    if PIL.__version__ != "9.4.0":
        sys.exit(f"expected Pillow 9.4.0 (Debian 12's python3-pil), found {PIL.__version__}")
    os.makedirs(OUT, exist_ok=True)
    cases = []

    def add(name, note):
        path = os.path.join(OUT, name)
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            orientation = im.getexif().get(0x0112)
            rgb = np.asarray(im.convert("RGB"))
            upright = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        stem = name.rsplit(".", 1)[0]
        np.ascontiguousarray(rgb).tofile(os.path.join(OUT, stem + ".rgb.u8"))
        case = {"file": name, "note": note, "pillow_mode": mode, "width": rgb.shape[1], "height": rgb.shape[0],
                "exif_orientation": orientation if isinstance(orientation, int) else 0, "rgb": stem + ".rgb.u8"}
        if upright.shape != rgb.shape or not np.array_equal(upright, rgb):
            np.ascontiguousarray(upright).tofile(os.path.join(OUT, stem + ".upright.u8"))
            case["upright"] = stem + ".upright.u8"
            case["upright_width"] = upright.shape[1]
            case["upright_height"] = upright.shape[0]
        cases.append(case)

    base = test_pattern(24, 16, 1)

    # EXIF orientation 1-8 in JPEG (APP1), PNG (eXIf) and WebP (EXIF chunk).
    for orientation in range(1, 9):
        name = f"jpeg_orient{orientation}.jpg"
        Image.fromarray(base).save(os.path.join(OUT, name), quality=95, exif=exif_bytes(orientation))
        add(name, f"JPEG with EXIF Orientation {orientation}")
    for orientation in (3, 6, 8):
        name = f"png_exif_orient{orientation}.png"
        Image.fromarray(base).save(os.path.join(OUT, name), exif=exif_bytes(orientation))
        add(name, f"PNG with an eXIf chunk, Orientation {orientation}")
        name = f"webp_exif_orient{orientation}.webp"
        Image.fromarray(base).save(os.path.join(OUT, name), lossless=True, exif=exif_bytes(orientation))
        add(name, f"lossless WebP with an EXIF chunk, Orientation {orientation}")
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description '
                  'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="5"/></x:xmpmeta>')
    Image.fromarray(base).save(os.path.join(OUT, "png_xmp_orient5.png"), pnginfo=info)
    add("png_xmp_orient5.png", "PNG whose only orientation is tiff:Orientation in XMP (iTXt)")
    hex_exif = exif_bytes(7).hex()  # tobytes() already starts with the "Exif" APP1 signature
    info = PngInfo()
    info.add_text("Raw profile type exif",
                  f"\nexif\n{len(hex_exif) // 2:8d}\n" + "\n".join(hex_exif[i:i + 72] for i in range(0, len(hex_exif), 72)),
                  zip=True)
    Image.fromarray(base).save(os.path.join(OUT, "png_rawprofile_orient7.png"), pnginfo=info)
    add("png_rawprofile_orient7.png", "PNG with ImageMagick's 'Raw profile type exif' zTXt chunk, Orientation 7")

    # PNG colour types and bit depths.
    gray = (base[..., 0] // 2 + base[..., 2] // 2).astype(np.uint16)
    for depth in (1, 2, 4):
        samples = (gray >> (8 - depth))[..., None]
        write_png(os.path.join(OUT, f"png_gray{depth}.png"), samples, 0, depth)
        add(f"png_gray{depth}.png", f"PNG {depth}-bit grayscale")
    palette = RNG.integers(0, 256, (16, 3))
    indices = (base[..., 2] % 16)[..., None]
    for depth in (4, 8):
        write_png(os.path.join(OUT, f"png_palette{depth}.png"), indices, 3, depth, palette=palette)
        add(f"png_palette{depth}.png", f"PNG {depth}-bit palette")
    short = (base[..., 2] % 12)[..., None]
    write_png(os.path.join(OUT, "png_palette_short.png"), short, 3, 8, palette=palette[:9], trns=b"\x00\x80")
    add("png_palette_short.png", "PNG palette of 9 colours with indices up to 11 (Pillow reads its grayscale ramp)")
    write_png(os.path.join(OUT, "png_rgb_adam7.png"), base, 2, 8, interlace=True)
    add("png_rgb_adam7.png", "interlaced (Adam7) RGB PNG")
    write_png(os.path.join(OUT, "png_palette2_adam7.png"), (base[..., 1] % 4)[..., None], 3, 2,
              palette=palette[:4], interlace=True)
    add("png_palette2_adam7.png", "interlaced 2-bit palette PNG")
    wide = base.astype(np.int64) * 256 + RNG.integers(0, 256, base.shape)
    alpha16 = RNG.integers(0, 65536, base.shape[:2] + (1,))
    write_png(os.path.join(OUT, "png_rgba16.png"), np.concatenate([wide, alpha16], axis=-1), 6, 16)
    add("png_rgba16.png", "16-bit RGBA PNG (high bytes)")
    write_png(os.path.join(OUT, "png_la16.png"), np.concatenate([wide[..., :1], alpha16], axis=-1), 4, 16)
    add("png_la16.png", "16-bit gray+alpha PNG (Pillow opens it as RGBA)")
    write_png(os.path.join(OUT, "png_rgb_trns_gamma.png"), base, 2, 8, trns=b"\x00\x10\x00\x20\x00\x30",
              chunks=[(b"gAMA", struct.pack(">I", 100000))])
    add("png_rgb_trns_gamma.png", "RGB PNG with tRNS and gAMA, both ignored")

    # GIF: interlaced, a frame smaller than the screen with and without transparency, a local
    # colour table, a second frame.
    pattern = Image.fromarray(test_pattern(40, 30, 2)).quantize(colors=50)
    pattern.save(os.path.join(OUT, "gif_interlaced.gif"), interlace=True)
    add("gif_interlaced.gif", "interlaced GIF")
    frame = Image.fromarray(test_pattern(20, 12, 3)).quantize(colors=30)
    for transparency in (None, 7):
        buffer = io.BytesIO()
        frame.save(buffer, "GIF", **({} if transparency is None else {"transparency": transparency}))
        data = bytearray(buffer.getvalue())
        struct.pack_into("<HH", data, 6, 32, 20)  # logical screen 32x20
        at = data.index(b",")
        struct.pack_into("<HH", data, at + 1, 5, 3)  # frame at (5, 3)
        name = "gif_offset_frame.gif" if transparency is None else "gif_offset_frame_trns.gif"
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes(data))
        add(name, "GIF frame 20x12 at (5, 3) on a 32x20 screen" +
            ("" if transparency is None else ", transparent index 7 fills the rest"))
    first = Image.fromarray(test_pattern(16, 16, 4)).quantize(colors=20)
    second = Image.fromarray(test_pattern(16, 16, 5)).quantize(colors=20)
    first.save(os.path.join(OUT, "gif_animated.gif"), save_all=True, append_images=[second], duration=100)
    add("gif_animated.gif", "two-frame GIF; the first frame counts")

    # BMP variants.
    pixels = test_pattern(13, 9, 6)
    Image.fromarray(pixels).save(os.path.join(OUT, "bmp_rgb24.bmp"))
    add("bmp_rgb24.bmp", "24-bit BMP written by Pillow")
    Image.fromarray(np.dstack([pixels, pixels[..., :1]])).save(os.path.join(OUT, "bmp_rgba32.bmp"))
    add("bmp_rgba32.bmp", "32-bit BMP written by Pillow (alpha byte ignored on reading)")
    Image.fromarray(pixels).quantize(colors=40).save(os.path.join(OUT, "bmp_p8.bmp"))
    add("bmp_p8.bmp", "8-bit palette BMP")
    Image.fromarray(pixels[..., 0]).convert("1").save(os.path.join(OUT, "bmp_1bit.bmp"))
    add("bmp_1bit.bmp", "1-bit BMP")
    for green_bits, name in ((5, "bmp_555.bmp"), (6, "bmp_565.bmp")):
        masks = (0x7C00, 0x3E0, 0x1F, 0) if green_bits == 5 else (0xF800, 0x7E0, 0x1F, 0)
        write_bmp(os.path.join(OUT, name), 13, 9, 16, rgb16(pixels[::-1], green_bits), compression=3, masks=masks)
        add(name, f"16-bit BMP, bitfields {'5-5-5' if green_bits == 5 else '5-6-5'}")
    write_bmp(os.path.join(OUT, "bmp_555_default.bmp"), 13, 9, 16, rgb16(pixels[::-1], 5))
    add("bmp_555_default.bmp", "16-bit BMP without bitfields (5-5-5)")
    bgra = [bytes(v for p in row for v in (p[2], p[1], p[0], 99)) for row in pixels]
    write_bmp(os.path.join(OUT, "bmp_v5_bgra_topdown.bmp"), 13, 9, 32, bgra, header_size=124, compression=3,
              masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000), top_down=True)
    add("bmp_v5_bgra_topdown.bmp", "32-bit BGRA BMP, V5 header, top-down rows")
    rgba = [bytes(v for p in row for v in (p[0], p[1], p[2], 7)) for row in pixels[::-1]]
    write_bmp(os.path.join(OUT, "bmp_v4_rgba.bmp"), 13, 9, 32, rgba, header_size=108, compression=3,
              masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000))
    add("bmp_v4_rgba.bmp", "32-bit RGBA-ordered BMP, V4 header")
    index = (pixels[..., 2] % 16).astype(np.uint8)
    pal16 = bytes(v for c in RNG.integers(0, 256, (16, 3)) for v in (c[2], c[1], c[0], 0))
    pal16_core = bytes(v for i in range(16) for v in (pal16[4 * i], pal16[4 * i + 1], pal16[4 * i + 2]))
    nibbles = [bytes((row[i] << 4) | (row[i + 1] if i + 1 < len(row) else 0) for i in range(0, len(row), 2))
               for row in index[::-1]]
    write_bmp(os.path.join(OUT, "bmp_p4.bmp"), 13, 9, 4, nibbles, colors=16, palette=pal16)
    add("bmp_p4.bmp", "4-bit palette BMP")
    write_bmp(os.path.join(OUT, "bmp_os2_p4.bmp"), 13, 9, 4, nibbles, header_size=12, palette=pal16_core)
    add("bmp_os2_p4.bmp", "OS/2 1.x BMP (12-byte header, BGR palette), 4 bits")
    write_bmp(os.path.join(OUT, "bmp_p4_short_palette.bmp"), 13, 9, 4, nibbles, colors=10, palette=pal16[:40])
    add("bmp_p4_short_palette.bmp", "4-bit BMP with 10 palette colours and indices up to 15")
    pal256 = bytes(v for c in RNG.integers(0, 256, (256, 3)) for v in (c[2], c[1], c[0], 0))
    index8 = ((pixels[..., 0].astype(int) + pixels[..., 2]) % 256).astype(np.uint8)
    index8[:, 4:9] = 17  # runs
    write_bmp(os.path.join(OUT, "bmp_rle8.bmp"), 13, 9, 8, None, compression=1, colors=256, palette=pal256,
              raw_pixel_data=rle8(index8[::-1]))
    add("bmp_rle8.bmp", "RLE8 BMP with runs, absolute runs and end-of-line markers")
    # Pillow 9.4 to 12.2 misread odd-length RLE4 absolute runs, so every absolute run here is even.
    index4 = (pixels[..., 1] % 16).astype(np.uint8)
    index4 = np.concatenate([index4, index4[:, :1]], axis=1)
    write_bmp(os.path.join(OUT, "bmp_rle4.bmp"), 14, 9, 4, None, compression=2, colors=16, palette=pal16,
              raw_pixel_data=rle4_even(index4[::-1]))
    add("bmp_rle4.bmp", "RLE4 BMP with encoded and even absolute runs")

    # WebP without alpha, lossy with alpha, animated.
    Image.fromarray(test_pattern(30, 20, 7)).save(os.path.join(OUT, "webp_lossless_rgb.webp"), lossless=True)
    add("webp_lossless_rgb.webp", "lossless WebP without alpha")
    rgba_image = Image.fromarray(np.dstack([test_pattern(30, 20, 8), test_pattern(30, 20, 9)[..., 2]]))
    rgba_image.save(os.path.join(OUT, "webp_lossy_alpha.webp"), quality=70)
    add("webp_lossy_alpha.webp", "lossy WebP with an alpha plane")
    frames = [Image.fromarray(test_pattern(30, 20, s)) for s in (10, 11)]
    frames[0].save(os.path.join(OUT, "webp_animated.webp"), save_all=True, append_images=frames[1:], lossless=True,
                   duration=100)
    add("webp_animated.webp", "two-frame animated WebP; the first frame counts")

    # A progressive JPEG whose sides are not multiples of the 16-pixel MCU.
    Image.fromarray(test_pattern(21, 11, 12)).save(os.path.join(OUT, "jpeg_progressive_odd.jpg"), quality=80,
                                                   progressive=True, subsampling="4:2:0")
    add("jpeg_progressive_odd.jpg", "progressive 4:2:0 JPEG, 21x11")

    resample_cases = make_resample_cases()
    preprocess_cases = make_preprocess_cases()
    manifest = {
        "generator": "tests/data/preprocess/make_extra_cases.py",
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "decode": cases,
        "resample": resample_cases,
        "preprocess": preprocess_cases,
    }
    with open(os.path.join(OUT, "extra.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def rle4_even(indices):
    """Like rle4() but with absolute runs of even length only (4 and 6 nibbles)."""
    out = bytearray()
    for row in indices:
        row = list(row)
        x = 0
        while x < len(row):
            left = len(row) - x
            n = 6 if left >= 8 or left == 6 else (4 if left >= 4 else left)
            if n >= 4:
                packed = bytes((row[x + i] << 4) | row[x + i + 1] for i in range(0, n, 2))
                out += bytes([0, n]) + packed
                if len(packed) % 2:
                    out += b"\x00"
            else:
                out += bytes([n, (row[x] << 4) | (row[x + 1] if n > 1 else 0)])
            x += n
        out += bytes([0, 0])
    out += bytes([0, 1])
    return bytes(out)


FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS, "box": Image.BOX,
           "hamming": Image.HAMMING}


def make_resample_cases():
    source = test_pattern(61, 47, 13)
    source[20:30, 10:40] = np.indices((10, 30)).sum(axis=0)[..., None] % 2 * 255  # a checkerboard
    source.tofile(os.path.join(OUT, "resample_source_61x47.rgb.u8"))
    cases = []
    for filter_name, filter_id in FILTERS.items():
        for width, height in ((17, 13), (120, 90), (61, 10), (7, 47), (30, 90), (1, 1), (5, 200)):
            out = np.asarray(Image.fromarray(source).resize((width, height), filter_id, reducing_gap=None))
            name = f"resample_{filter_name}_{width}x{height}.rgb.u8"
            out.tofile(os.path.join(OUT, name))
            cases.append({"source": "resample_source_61x47.rgb.u8", "source_width": 61, "source_height": 47,
                          "filter": filter_name, "resample": filter_id, "width": width, "height": height,
                          "expected": name})
    return cases


def clip_center_crop(image, crop_height, crop_width):
    """transformers' image_transforms.center_crop on an HWC uint8 array (both branches)."""
    height, width = image.shape[:2]
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    if top >= 0 and left >= 0 and crop_height <= height and crop_width <= width:
        return image[top:top + crop_height, left:left + crop_width]
    new_height = max(crop_height, height)
    new_width = max(crop_width, width)
    padded = np.zeros((new_height, new_width, 3), dtype=image.dtype)
    top_pad = -(-(new_height - height) // 2)
    left_pad = -(-(new_width - width) // 2)
    padded[top_pad:top_pad + height, left_pad:left_pad + width] = image
    top = (new_height - crop_height) // 2
    left = (new_width - crop_width) // 2
    return padded[top:top + crop_height, left:left + crop_width]


def make_preprocess_cases():
    """Preprocessing with configs other than LLaVA-1.5's, following transformers' CLIPImageProcessor
    slow path (resize with Pillow, crop and normalize with numpy) and original LLaVA's expand2square."""
    source = test_pattern(37, 23, 14)
    source.tofile(os.path.join(OUT, "preprocess_source_37x23.rgb.u8"))
    mean = [0.5, 0.25, 0.75]
    std = [0.2, 0.3, 0.4]
    configs = [
        ("shortest_edge_crop_larger", {"size": {"shortest_edge": 30}, "crop_size": {"height": 40, "width": 52},
                                       "resample": 3}),
        ("height_width_no_crop", {"size": {"height": 20, "width": 50}, "do_center_crop": False, "resample": 2}),
        ("shortest_edge_rect_crop", {"size": 24, "crop_size": {"height": 20, "width": 12}, "resample": 1}),
        ("pad_mean_colour", {"size": {"shortest_edge": 16}, "crop_size": 16, "do_pad": True, "resample": 3}),
        ("no_rescale", {"size": {"shortest_edge": 10}, "crop_size": 10, "do_rescale": False, "resample": 3}),
    ]
    cases = []
    for name, fields in configs:
        config = {"image_processor_type": "LlavaImageProcessor" if fields.get("do_pad") else "CLIPImageProcessor",
                  "image_mean": mean, "image_std": std, "rescale_factor": 1 / 255}
        config.update(fields)
        image = Image.fromarray(source)
        if config.get("do_pad"):
            background = tuple(int(x * 255) for x in mean)
            side = max(image.size)
            square = Image.new("RGB", (side, side), background)
            square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
            image = square
        size = config["size"]
        if isinstance(size, int):
            size = {"shortest_edge": size}
        if "shortest_edge" in size:
            short, long = sorted(image.size)
            new_long = int(size["shortest_edge"] * long / short)
            target = (size["shortest_edge"], new_long) if image.width <= image.height else (new_long, size["shortest_edge"])
        else:
            target = (size["width"], size["height"])
        image = image.resize(target, config["resample"], reducing_gap=None)
        pixels = np.asarray(image)
        if config.get("do_center_crop", True):
            crop = config["crop_size"]
            crop = {"height": crop, "width": crop} if isinstance(crop, int) else crop
            pixels = clip_center_crop(pixels, crop["height"], crop["width"])
        pixels = np.ascontiguousarray(pixels)
        values = pixels.astype(np.float64)
        if config.get("do_rescale", True):
            values = values * config["rescale_factor"]
        values = values.astype(np.float32)
        values = (values - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
        tensor = np.ascontiguousarray(values.transpose(2, 0, 1).astype(np.float32))
        pixels.tofile(os.path.join(OUT, f"preprocess_{name}.u8"))
        tensor.astype("<f4").tofile(os.path.join(OUT, f"preprocess_{name}.f32"))
        cases.append({"name": name, "config": config, "source": "preprocess_source_37x23.rgb.u8",
                      "source_width": 37, "source_height": 23, "height": pixels.shape[0], "width": pixels.shape[1],
                      "u8": f"preprocess_{name}.u8", "f32": f"preprocess_{name}.f32"})
    return cases


if __name__ == "__main__":
    main()
