// Animated GIF (GIF89a): one global palette for the clip (median cut, gif_palette.c), pixels
// mapped to it with a small ordered dither, LZW-compressed frames, and the NETSCAPE2.0
// extension so that viewers loop the clip.
#include <stdlib.h>
#include <string.h>

#include "world/gif_palette.h"
#include "world/video_internal.h"

enum { LZW_MIN_BITS = 8, LZW_CLEAR = 256, LZW_END = 257, LZW_FIRST = 258, LZW_MAX_CODES = 4096, LZW_HASH = 8192 };

// LSB-first bit packing into 255-byte GIF sub-blocks.
typedef struct gif_bits {
  world_bytes *out;
  unsigned char block[255];
  int block_size;
  uint32_t accumulator;
  int bit_count;
} gif_bits;

static void flush_block(gif_bits *g) {
  if (!g->block_size) return;
  world_bytes_byte(g->out, (unsigned)g->block_size);
  world_bytes_put(g->out, g->block, (size_t)g->block_size);
  g->block_size = 0;
}

static void put_code(gif_bits *g, unsigned code, int width) {
  g->accumulator |= (uint32_t)code << g->bit_count;
  g->bit_count += width;
  while (g->bit_count >= 8) {
    g->block[g->block_size++] = (unsigned char)g->accumulator;
    g->accumulator >>= 8;
    g->bit_count -= 8;
    if (g->block_size == 255) flush_block(g);
  }
}

// The LZW dictionary: (prefix code, next byte) -> code, open addressing.
typedef struct lzw_table {
  uint32_t keys[LZW_HASH]; // key + 1; 0 is empty
  uint16_t codes[LZW_HASH];
} lzw_table;

static unsigned slot_of(const lzw_table *t, uint32_t key) {
  unsigned slot = (key * 2654435761u) >> 19; // 13 bits
  while (t->keys[slot] && t->keys[slot] != key + 1) slot = (slot + 1) & (LZW_HASH - 1);
  return slot;
}

static void lzw_encode(const unsigned char *indices, size_t count, lzw_table *table, world_bytes *out) {
  gif_bits g = {.out = out};
  world_bytes_byte(out, LZW_MIN_BITS);
  memset(table->keys, 0, sizeof table->keys);
  int width = LZW_MIN_BITS + 1;
  unsigned next = LZW_FIRST, prefix = indices[0];
  put_code(&g, LZW_CLEAR, width);
  for (size_t i = 1; i < count; i++) {
    uint32_t key = (uint32_t)prefix << 8 | indices[i];
    unsigned slot = slot_of(table, key);
    if (table->keys[slot]) {
      prefix = table->codes[slot];
      continue;
    }
    put_code(&g, prefix, width);
    table->keys[slot] = key + 1, table->codes[slot] = (uint16_t)next;
    next++;
    if (next > (1u << width) && width < 12) width++;
    if (next == LZW_MAX_CODES) { // full: start over (the decoder stops adding at 4095 too)
      put_code(&g, LZW_CLEAR, width);
      memset(table->keys, 0, sizeof table->keys);
      width = LZW_MIN_BITS + 1, next = LZW_FIRST;
    }
    prefix = indices[i];
  }
  put_code(&g, prefix, width);
  // The decoder adds an entry after this last code too, and may widen before the end code.
  next++;
  if (next > (1u << width) && width < 12) width++;
  put_code(&g, LZW_END, width);
  if (g.bit_count > 0) put_code(&g, 0, 8 - g.bit_count);
  flush_block(&g);
  world_bytes_byte(out, 0); // block terminator
}

vdit_status world_encode_gif(const float *pixels, int64_t frames, int64_t height, int64_t width, float fps,
                             world_bytes *out) {
  if (height > 65535 || width > 65535)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "a GIF frame is at most 65535 pixels a side, got %lldx%lld",
                      (long long)height, (long long)width);
  size_t area = (size_t)(height * width), plane = area * (size_t)frames;
  unsigned char *rgb = malloc(3 * plane), *indices = malloc(area);
  lzw_table *table = malloc(sizeof *table);
  world_gif_palette *palette = malloc(sizeof *palette);
  if (!rgb || !indices || !table || !palette) {
    free(rgb), free(indices), free(table), free(palette);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory encoding a GIF");
  }
  for (size_t i = 0; i < plane; i++) // (3, F, H, W) floats -> (F, H, W, 3) bytes
    for (int c = 0; c < 3; c++) rgb[3 * i + (size_t)c] = (unsigned char)world_to_byte(pixels[(size_t)c * plane + i]);
  vdit_status status = world_gif_palette_build(rgb, plane, palette);
  if (status != VDIT_OK) {
    free(rgb), free(indices), free(table), free(palette);
    return status;
  }
  world_bytes_put(out, "GIF89a", 6);
  world_bytes_u16_le(out, (unsigned)width);
  world_bytes_u16_le(out, (unsigned)height);
  world_bytes_byte(out, 0xF7); // global palette of 2^(7+1) entries, 8 bits per primary
  world_bytes_byte(out, 0);    // background index
  world_bytes_byte(out, 0);    // square pixels
  for (int i = 0; i < 256; i++)
    for (int c = 0; c < 3; c++) world_bytes_byte(out, i < palette->size ? palette->rgb[i][c] : 0);
  world_bytes_put(out, "\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00", 19); // loop forever

  int delay = (int)(100.0f / fps + 0.5f); // centiseconds; viewers treat < 2 as slow
  delay = delay < 2 ? 2 : (delay > 65535 ? 65535 : delay);
  for (int64_t f = 0; f < frames; f++) {
    const unsigned char *frame = rgb + 3 * (size_t)f * area;
    for (int64_t y = 0; y < height; y++)
      for (int64_t x = 0; x < width; x++) {
        size_t i = (size_t)(y * width + x);
        indices[i] = (unsigned char)world_gif_palette_map(palette, frame + 3 * i, y, x);
      }
    // graphic control: keep the frame (disposal 1), delay, no transparency
    world_bytes_put(out, "\x21\xF9\x04\x04", 4);
    world_bytes_u16_le(out, (unsigned)delay);
    world_bytes_put(out, "\x00\x00", 2);
    world_bytes_byte(out, 0x2C); // image descriptor: the whole screen, no local palette
    world_bytes_u16_le(out, 0);
    world_bytes_u16_le(out, 0);
    world_bytes_u16_le(out, (unsigned)width);
    world_bytes_u16_le(out, (unsigned)height);
    world_bytes_byte(out, 0);
    lzw_encode(indices, area, table, out);
  }
  world_bytes_byte(out, 0x3B);
  free(rgb), free(indices), free(table), free(palette);
  return VDIT_OK;
}
