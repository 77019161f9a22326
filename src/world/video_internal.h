// The video file encoders' shared pieces: a growing byte buffer, 8-bit quantization and the
// encoders themselves (each fills a buffer; video_file.c writes it atomically).
#ifndef VDIT_WORLD_VIDEO_INTERNAL_H
#define VDIT_WORLD_VIDEO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/world.h"

typedef struct world_bytes {
  unsigned char *data;
  size_t size, capacity;
  int failed; // an allocation failed: the contents are incomplete
} world_bytes;

void world_bytes_put(world_bytes *b, const void *data, size_t n);
void world_bytes_byte(world_bytes *b, unsigned value);
void world_bytes_u16_le(world_bytes *b, unsigned value);
void world_bytes_u32_be(world_bytes *b, uint32_t value);
void world_bytes_free(world_bytes *b);

// A value in [0, 1] (clamped) as the nearest 8-bit level.
static inline unsigned world_to_byte(float v) {
  v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
  return (unsigned)(v * 255.0f + 0.5f);
}

// Encoders: pixels (3, F, H, W) in [0, 1], already checked for NaN and sizes.
vdit_status world_encode_gif(const float *pixels, int64_t frames, int64_t height, int64_t width, float fps,
                             world_bytes *out);
vdit_status world_encode_png_grid(const float *pixels, int64_t frames, int64_t height, int64_t width,
                                  world_bytes *out);
vdit_status world_encode_y4m(const float *pixels, int64_t frames, int64_t height, int64_t width, float fps,
                             world_bytes *out);

// deflate.c: a zlib stream (RFC 1950) of `data` in one fixed-Huffman deflate block (RFC 1951)
// with LZ77 matches; CRC-32 (PNG's) and Adler-32 (zlib's).
void world_zlib_compress(const unsigned char *data, size_t size, world_bytes *out);
uint32_t world_crc32(uint32_t crc, const unsigned char *data, size_t size); // start with crc = 0
uint32_t world_adler32(const unsigned char *data, size_t size);

// The grid a PNG holds F frames in: columns = ceil(sqrt(F)), rows = ceil(F / columns).
void world_png_grid_shape(int64_t frames, int64_t *rows, int64_t *columns);

#endif // VDIT_WORLD_VIDEO_INTERNAL_H
