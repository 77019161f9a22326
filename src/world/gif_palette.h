// The GIF encoder's palette: median cut over a clip's colors, and the dithered mapping of a
// pixel to a palette index (gif_palette.c).
#ifndef VDIT_WORLD_GIF_PALETTE_H
#define VDIT_WORLD_GIF_PALETTE_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/base.h"

#define WORLD_GIF_COLORS 256
#define WORLD_GIF_DITHER_LEVELS 6 // the ordered dither moves a channel by at most this many levels

typedef struct world_gif_palette {
  int size;                              // entries used, <= 256
  unsigned char rgb[WORLD_GIF_COLORS][3];
  int16_t nearest[1 << 15];              // 5-bit-per-channel bin -> entry; -1 until first used
} world_gif_palette;

// From `count` RGB pixels (3 bytes each).
vdit_status world_gif_palette_build(const unsigned char *rgb, size_t count, world_gif_palette *palette);
// The entry for a pixel at (y, x) of its frame (the position picks the dither threshold).
int world_gif_palette_map(world_gif_palette *palette, const unsigned char pixel[3], int64_t y, int64_t x);

#endif // VDIT_WORLD_GIF_PALETTE_H
