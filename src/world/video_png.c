// PNG of a clip: the frames tiled left to right, top to bottom in a grid (cells past the
// last frame stay black), RGB 8-bit, each row Sub-filtered, one IDAT chunk from deflate.c.
#include <math.h>
#include <stdlib.h>

#include "world/video_internal.h"

void world_png_grid_shape(int64_t frames, int64_t *rows, int64_t *columns) {
  int64_t c = 1;
  while (c * c < frames) c++;
  *columns = c;
  *rows = (frames + c - 1) / c;
}

static void put_chunk(world_bytes *out, const char type[4], const unsigned char *data, size_t size) {
  world_bytes_u32_be(out, (uint32_t)size);
  size_t start = out->size;
  world_bytes_put(out, type, 4);
  if (size) world_bytes_put(out, data, size);
  if (out->failed) return;
  world_bytes_u32_be(out, world_crc32(0, out->data + start, size + 4));
}

vdit_status world_encode_png_grid(const float *pixels, int64_t frames, int64_t height, int64_t width,
                                  world_bytes *out) {
  int64_t rows, columns;
  world_png_grid_shape(frames, &rows, &columns);
  int64_t image_height = rows * height, image_width = columns * width;
  if (image_height > 0x7FFFFFFF || image_width > 0x7FFFFFFF / 3)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "a PNG grid of %lld frames of %lldx%lld is too large",
                      (long long)frames, (long long)height, (long long)width);
  size_t stride = 1 + 3 * (size_t)image_width, area = (size_t)(height * width), plane = area * (size_t)frames;
  unsigned char *raw = calloc((size_t)image_height, stride), *row = malloc(3 * (size_t)image_width);
  if (!raw || !row) {
    free(raw), free(row);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory encoding a PNG of %lldx%lld",
                      (long long)image_height, (long long)image_width);
  }
  for (int64_t y = 0; y < image_height; y++) {
    int64_t grid_row = y / height, frame_y = y % height;
    for (int64_t x = 0; x < image_width; x++) {
      int64_t f = grid_row * columns + x / width, frame_x = x % width;
      unsigned char *p = row + 3 * x;
      if (f >= frames) {
        p[0] = p[1] = p[2] = 0;
        continue;
      }
      size_t i = (size_t)f * area + (size_t)(frame_y * width + frame_x);
      p[0] = (unsigned char)world_to_byte(pixels[i]);
      p[1] = (unsigned char)world_to_byte(pixels[i + plane]);
      p[2] = (unsigned char)world_to_byte(pixels[i + 2 * plane]);
    }
    unsigned char *line = raw + (size_t)y * stride;
    line[0] = 1; // Sub: each byte minus the same channel of the pixel to its left
    for (size_t k = 0; k < 3 * (size_t)image_width; k++)
      line[1 + k] = (unsigned char)(row[k] - (k >= 3 ? row[k - 3] : 0));
  }
  free(row);
  world_bytes_put(out, "\x89PNG\r\n\x1a\n", 8);
  unsigned char header[13] = {0};
  for (int k = 0; k < 4; k++) {
    header[k] = (unsigned char)(image_width >> (24 - 8 * k));
    header[4 + k] = (unsigned char)(image_height >> (24 - 8 * k));
  }
  header[8] = 8;  // bits per sample
  header[9] = 2;  // RGB
  put_chunk(out, "IHDR", header, sizeof header);
  world_bytes compressed = {0};
  world_zlib_compress(raw, (size_t)image_height * stride, &compressed);
  free(raw);
  if (compressed.failed) out->failed = 1;
  else put_chunk(out, "IDAT", compressed.data, compressed.size);
  world_bytes_free(&compressed);
  put_chunk(out, "IEND", NULL, 0);
  return VDIT_OK;
}
