// Animated GIF (GIF89a): one global palette of 6 x 7 x 6 levels of red, green and blue (252
// colors), pixels mapped to it with a 4x4 ordered (Bayer) dither, LZW-compressed frames, and
// the NETSCAPE2.0 extension so that viewers loop the clip.
#include <stdlib.h>
#include <string.h>

#include "world/video_internal.h"

enum { LEVELS_R = 6, LEVELS_G = 7, LEVELS_B = 6 };
enum { LZW_MIN_BITS = 8, LZW_CLEAR = 256, LZW_END = 257, LZW_FIRST = 258, LZW_MAX_CODES = 4096, LZW_HASH = 8192 };

static const unsigned char bayer4[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};

// The level of v in [0, 1] among `levels`, dithered by threshold (bayer + 0.5) / 16.
static unsigned dither(float v, int levels, unsigned bayer) {
  v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
  int q = (int)(v * (float)(levels - 1) + ((float)bayer + 0.5f) / 16.0f);
  return (unsigned)(q < levels - 1 ? q : levels - 1);
}

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
  unsigned char *indices = malloc(area);
  lzw_table *table = malloc(sizeof *table);
  if (!indices || !table) {
    free(indices), free(table);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory encoding a GIF");
  }
  world_bytes_put(out, "GIF89a", 6);
  world_bytes_u16_le(out, (unsigned)width);
  world_bytes_u16_le(out, (unsigned)height);
  world_bytes_byte(out, 0xF7); // global palette of 2^(7+1) entries, 8 bits per primary
  world_bytes_byte(out, 0);    // background index
  world_bytes_byte(out, 0);    // square pixels
  for (int i = 0; i < 256; i++) {
    int r = i / (LEVELS_G * LEVELS_B), g = i / LEVELS_B % LEVELS_G, b = i % LEVELS_B;
    if (i >= LEVELS_R * LEVELS_G * LEVELS_B) r = g = b = 0;
    world_bytes_byte(out, (unsigned)((r * 255 + (LEVELS_R - 1) / 2) / (LEVELS_R - 1)));
    world_bytes_byte(out, (unsigned)((g * 255 + (LEVELS_G - 1) / 2) / (LEVELS_G - 1)));
    world_bytes_byte(out, (unsigned)((b * 255 + (LEVELS_B - 1) / 2) / (LEVELS_B - 1)));
  }
  world_bytes_put(out, "\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00", 19); // loop forever

  int delay = (int)(100.0f / fps + 0.5f); // centiseconds; viewers treat < 2 as slow
  delay = delay < 2 ? 2 : (delay > 65535 ? 65535 : delay);
  for (int64_t f = 0; f < frames; f++) {
    const float *red = pixels + (size_t)f * area, *green = red + plane, *blue = green + plane;
    for (int64_t y = 0; y < height; y++)
      for (int64_t x = 0; x < width; x++) {
        size_t i = (size_t)(y * width + x);
        unsigned t = bayer4[y & 3][x & 3];
        indices[i] = (unsigned char)((dither(red[i], LEVELS_R, t) * LEVELS_G + dither(green[i], LEVELS_G, t)) * LEVELS_B +
                                     dither(blue[i], LEVELS_B, t));
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
  free(indices);
  free(table);
  return VDIT_OK;
}
