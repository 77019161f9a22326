// The GIF's global palette: median cut (Heckbert 1982) over a clip's colors binned to 5 bits
// a channel, each box's entry the mean of its pixels; pixels are mapped to the nearest entry
// after a small 4x4 ordered (Bayer) dither that breaks up banding in gradients.
#include <stdlib.h>
#include <string.h>

#include "world/gif_palette.h"

enum { BINS = 1 << 15 };

typedef struct bin_stats {
  uint32_t count;
  uint64_t sum[3];
} bin_stats;

typedef struct box {
  int start, end; // a range of the occupied-bin list
  uint64_t count;
  int longest, range; // the channel with the widest spread, and that spread (5-bit units)
} box;

static int bin_channel(int bin, int c) { return (bin >> (10 - 5 * c)) & 31; }

static void measure(box *b, const int *bins, const bin_stats *stats) {
  int lo[3] = {31, 31, 31}, hi[3] = {0, 0, 0};
  b->count = 0;
  for (int i = b->start; i < b->end; i++) {
    b->count += stats[bins[i]].count;
    for (int c = 0; c < 3; c++) {
      int v = bin_channel(bins[i], c);
      lo[c] = v < lo[c] ? v : lo[c], hi[c] = v > hi[c] ? v : hi[c];
    }
  }
  b->longest = 0, b->range = -1;
  for (int c = 0; c < 3; c++)
    if (hi[c] - lo[c] > b->range) b->range = hi[c] - lo[c], b->longest = c;
}

// Counting sort of bins[start, end) by one channel (stable, no comparator state).
static void sort_by_channel(int *bins, int start, int end, int channel, int *scratch) {
  int offsets[33] = {0};
  for (int i = start; i < end; i++) offsets[bin_channel(bins[i], channel) + 1]++;
  for (int v = 0; v < 32; v++) offsets[v + 1] += offsets[v];
  for (int i = start; i < end; i++) scratch[offsets[bin_channel(bins[i], channel)]++] = bins[i];
  memcpy(bins + start, scratch, (size_t)(end - start) * sizeof *bins);
}

static int bin_of(unsigned r, unsigned g, unsigned b) { return (int)((r >> 3) << 10 | (g >> 3) << 5 | (b >> 3)); }

vdit_status world_gif_palette_build(const unsigned char *rgb, size_t count, world_gif_palette *palette) {
  bin_stats *stats = calloc(BINS, sizeof *stats);
  int *bins = malloc(BINS * sizeof *bins), *scratch = malloc(BINS * sizeof *scratch);
  if (!stats || !bins || !scratch) {
    free(stats), free(bins), free(scratch);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory building a GIF palette");
  }
  for (size_t i = 0; i < count; i++) {
    const unsigned char *p = rgb + 3 * i;
    bin_stats *s = &stats[bin_of(p[0], p[1], p[2])];
    s->count++;
    for (int c = 0; c < 3; c++) s->sum[c] += p[c];
  }
  int occupied = 0;
  for (int k = 0; k < BINS; k++)
    if (stats[k].count) bins[occupied++] = k;
  box boxes[WORLD_GIF_COLORS];
  int box_count = 1;
  boxes[0].start = 0, boxes[0].end = occupied;
  measure(&boxes[0], bins, stats);
  while (box_count < WORLD_GIF_COLORS) {
    // split the box with the most pixels times spread (favoring big, varied regions)
    int pick = -1;
    double best = 0.0;
    for (int k = 0; k < box_count; k++) {
      double score = (double)boxes[k].count * (double)boxes[k].range;
      if (boxes[k].end - boxes[k].start > 1 && boxes[k].range > 0 && score > best) best = score, pick = k;
    }
    if (pick < 0) break;
    box *b = &boxes[pick];
    sort_by_channel(bins, b->start, b->end, b->longest, scratch);
    uint64_t half = b->count / 2, running = 0;
    int split = b->start + 1;
    for (int i = b->start; i < b->end - 1; i++) {
      running += stats[bins[i]].count;
      split = i + 1;
      if (running >= half) break;
    }
    box next = {.start = split, .end = b->end};
    b->end = split;
    measure(b, bins, stats);
    measure(&next, bins, stats);
    boxes[box_count++] = next;
  }
  memset(palette, 0, sizeof *palette);
  palette->size = box_count;
  for (int k = 0; k < box_count; k++) {
    uint64_t sum[3] = {0, 0, 0}, n = 0;
    for (int i = boxes[k].start; i < boxes[k].end; i++) {
      n += stats[bins[i]].count;
      for (int c = 0; c < 3; c++) sum[c] += stats[bins[i]].sum[c];
    }
    for (int c = 0; c < 3; c++) palette->rgb[k][c] = n ? (unsigned char)((sum[c] + n / 2) / n) : 0;
  }
  for (int k = 0; k < BINS; k++) palette->nearest[k] = -1;
  free(stats), free(bins), free(scratch);
  return VDIT_OK;
}

// The entry nearest to the bin's center (squared distance, the lowest index on ties),
// computed on first use.
static int nearest(world_gif_palette *palette, int bin) {
  if (palette->nearest[bin] >= 0) return palette->nearest[bin];
  int r = bin_channel(bin, 0) * 8 + 4, g = bin_channel(bin, 1) * 8 + 4, b = bin_channel(bin, 2) * 8 + 4;
  int best = 0, best_distance = 1 << 30;
  for (int k = 0; k < palette->size; k++) {
    int dr = r - palette->rgb[k][0], dg = g - palette->rgb[k][1], db = b - palette->rgb[k][2];
    int d = dr * dr + dg * dg + db * db;
    if (d < best_distance) best_distance = d, best = k;
  }
  palette->nearest[bin] = (int16_t)best;
  return best;
}

static const signed char bayer4[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};

int world_gif_palette_map(world_gif_palette *palette, const unsigned char pixel[3], int64_t y, int64_t x) {
  // offset in levels: (bayer - 7.5) * 0.75, within +-WORLD_GIF_DITHER_LEVELS
  int offset2 = (2 * bayer4[y & 3][x & 3] - 15) * 3; // 8 x the offset
  int v[3];
  for (int c = 0; c < 3; c++) {
    int q = (8 * pixel[c] + offset2 + 4) >> 3;
    v[c] = q < 0 ? 0 : (q > 255 ? 255 : q);
  }
  return nearest(palette, bin_of((unsigned)v[0], (unsigned)v[1], (unsigned)v[2]));
}
