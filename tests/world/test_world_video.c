// The video writers, checked by small independent decoders written here from the format
// specifications: a GIF reader with its own LZW decoder, a PNG reader with CRC-32 checks and
// an inflate of stored and fixed-Huffman blocks (with Adler-32), and a Y4M reader. Decoded
// pixels must match the input within each format's quantization; bad input must fail
// cleanly and leave no file behind.
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vdit/world.h"
#include "world/video_internal.h"

// ---------------------------------------------------------------- file helpers
static unsigned char *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc((size_t)n + 1);
  if (data && fread(data, 1, (size_t)n, f) != (size_t)n) free(data), data = NULL;
  fclose(f);
  *size = (size_t)n;
  return data;
}

static int count_temporaries(const char *folder) {
  DIR *d = opendir(folder);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".tmp-") != NULL;
  closedir(d);
  return n;
}

// ---------------------------------------------------------------- GIF decoder
typedef struct gif_image {
  int width, height, frames, delay, loops;
  unsigned char palette[256][3];
  unsigned char *indices; // frames * height * width
} gif_image;

static int gif_decode_lzw(const unsigned char *data, size_t size, size_t *at, unsigned char *out, size_t count) {
  if (*at >= size) return 0;
  int min_bits = data[(*at)++];
  if (min_bits != 8) return 0;
  // gather the sub-blocks
  size_t total = 0, scan = *at;
  while (scan < size && data[scan]) total += data[scan], scan += 1 + data[scan];
  if (scan >= size) return 0;
  unsigned char *stream = malloc(total + 4);
  size_t n = 0;
  for (size_t p = *at; data[p]; p += 1 + data[p]) memcpy(stream + n, data + p + 1, data[p]), n += data[p];
  *at = scan + 1;
  memset(stream + n, 0, 4);

  enum { CLEAR = 256, END = 257 };
  static uint16_t prefix[4096];
  static unsigned char suffix[4096], first[4096];
  unsigned char string[4096];
  for (int i = 0; i < 256; i++) suffix[i] = first[i] = (unsigned char)i;
  int width = 9, next = 258, previous = -1, ok = 0;
  size_t bit = 0, written = 0;
  for (;;) {
    if (bit + (size_t)width > 8 * total) break;
    int code = 0;
    for (int k = 0; k < width; k++, bit++) code |= ((stream[bit >> 3] >> (bit & 7)) & 1) << k;
    if (code == CLEAR) {
      width = 9, next = 258, previous = -1;
      continue;
    }
    if (code == END) {
      ok = written == count;
      break;
    }
    int string_code;
    if (previous < 0) {
      if (code > 255) break;
      string_code = code;
    } else {
      if (code > next || (code == next && next >= 4096)) break;
      if (next < 4096) { // new entry: previous string + first byte of this one
        prefix[next] = (uint16_t)previous;
        suffix[next] = code == next ? first[previous] : first[code];
        first[next] = first[previous];
        next++;
        if (next == (1 << width) && width < 12) width++;
      }
      string_code = code;
    }
    int length = 0;
    for (int c = string_code; c >= 0; c = c > 255 ? prefix[c] : -1) string[length++] = suffix[c];
    if (written + (size_t)length > count) break;
    for (int k = 0; k < length; k++) out[written++] = string[length - 1 - k];
    previous = code;
  }
  free(stream);
  return ok;
}

static int gif_decode(const unsigned char *d, size_t size, gif_image *g) {
  memset(g, 0, sizeof *g);
  g->loops = -1;
  if (size < 13 || memcmp(d, "GIF89a", 6) != 0) return 0;
  g->width = d[6] | d[7] << 8, g->height = d[8] | d[9] << 8;
  if (!(d[10] & 0x80)) return 0;
  int entries = 2 << (d[10] & 7);
  size_t at = 13;
  if (at + 3 * (size_t)entries > size) return 0;
  memcpy(g->palette, d + at, 3 * (size_t)entries);
  at += 3 * (size_t)entries;
  size_t area = (size_t)g->width * (size_t)g->height;
  while (at < size) {
    unsigned char kind = d[at++];
    if (kind == 0x3B) return g->frames > 0;
    if (kind == 0x21) { // extension
      unsigned char label = d[at++];
      if (label == 0xF9 && d[at] == 4) g->delay = d[at + 2] | d[at + 3] << 8;
      if (label == 0xFF && d[at] == 11 && memcmp(d + at + 1, "NETSCAPE2.0", 11) == 0) g->loops = d[at + 14] | d[at + 15] << 8;
      while (at < size && d[at]) at += 1 + d[at];
      at++;
      continue;
    }
    if (kind != 0x2C || at + 9 > size) return 0;
    int x = d[at] | d[at + 1] << 8, y = d[at + 2] | d[at + 3] << 8, w = d[at + 4] | d[at + 5] << 8,
        h = d[at + 6] | d[at + 7] << 8;
    if (x || y || w != g->width || h != g->height || d[at + 8]) return 0; // whole-screen frames, no local palette
    at += 9;
    g->indices = realloc(g->indices, area * (size_t)(g->frames + 1));
    if (!gif_decode_lzw(d, size, &at, g->indices + area * (size_t)g->frames, area)) return 0;
    g->frames++;
  }
  return 0;
}

// ---------------------------------------------------------------- PNG decoder
typedef struct bit_reader {
  const unsigned char *data;
  size_t size, bit;
} bit_reader;

static int read_bit(bit_reader *r) {
  if (r->bit >= 8 * r->size) return -1;
  int b = (r->data[r->bit >> 3] >> (r->bit & 7)) & 1;
  r->bit++;
  return b;
}
static int read_bits(bit_reader *r, int n) { // LSB first
  int v = 0;
  for (int k = 0; k < n; k++) {
    int b = read_bit(r);
    if (b < 0) return -1;
    v |= b << k;
  }
  return v;
}

static int fixed_literal(bit_reader *r) {
  int code = 0;
  for (int k = 0; k < 7; k++) code = code << 1 | read_bit(r);
  if (code <= 23) return 256 + code;
  code = code << 1 | read_bit(r);
  if (code >= 0x30 && code <= 0xBF) return code - 0x30;
  if (code >= 0xC0 && code <= 0xC7) return 280 + code - 0xC0;
  code = code << 1 | read_bit(r);
  if (code >= 0x190 && code <= 0x1FF) return 144 + code - 0x190;
  return -1;
}

static const int length_base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const int length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const int distance_base[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const int distance_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static uint32_t crc32_reference(const unsigned char *p, size_t n) {
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

// zlib stream -> bytes; stored and fixed-Huffman blocks only. Returns the size or -1.
static long inflate_zlib(const unsigned char *z, size_t size, unsigned char *out, size_t capacity) {
  if (size < 6 || (z[0] & 0x0F) != 8 || ((z[0] << 8) | z[1]) % 31 != 0 || (z[1] & 0x20)) return -1;
  bit_reader r = {z + 2, size - 6, 0};
  size_t n = 0;
  int final = 0;
  while (!final) {
    final = read_bits(&r, 1);
    int type = read_bits(&r, 2);
    if (type == 0) {
      r.bit = (r.bit + 7) & ~(size_t)7;
      size_t at = r.bit >> 3;
      if (at + 4 > r.size) return -1;
      unsigned len = r.data[at] | r.data[at + 1] << 8, nlen = r.data[at + 2] | r.data[at + 3] << 8;
      if ((len ^ 0xFFFFu) != nlen || at + 4 + len > r.size || n + len > capacity) return -1;
      memcpy(out + n, r.data + at + 4, len);
      n += len, r.bit = 8 * (at + 4 + len);
    } else if (type == 1) {
      for (;;) {
        int symbol = fixed_literal(&r);
        if (symbol < 0) return -1;
        if (symbol < 256) {
          if (n >= capacity) return -1;
          out[n++] = (unsigned char)symbol;
          continue;
        }
        if (symbol == 256) break;
        if (symbol > 285) return -1;
        int length = length_base[symbol - 257] + read_bits(&r, length_extra[symbol - 257]);
        int dcode = 0;
        for (int k = 0; k < 5; k++) dcode = dcode << 1 | read_bit(&r);
        if (dcode > 29) return -1;
        int distance = distance_base[dcode] + read_bits(&r, distance_extra[dcode]);
        if ((size_t)distance > n || n + (size_t)length > capacity) return -1;
        for (int k = 0; k < length; k++, n++) out[n] = out[n - (size_t)distance];
      }
    } else {
      return -1; // dynamic Huffman: not what the writer emits
    }
  }
  // Adler-32 of the output
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < n; i++) a = (a + out[i]) % 65521u, b = (b + a) % 65521u;
  if (be32(z + size - 4) != (b << 16 | a)) return -1;
  return (long)n;
}

// PNG -> RGB bytes (height * width * 3); 0 on any format error or CRC mismatch.
static unsigned char *png_decode(const unsigned char *d, size_t size, int *width, int *height) {
  if (size < 8 || memcmp(d, "\x89PNG\r\n\x1a\n", 8) != 0) return NULL;
  size_t at = 8, idat_size = 0;
  unsigned char *idat = NULL;
  int seen_end = 0;
  *width = *height = 0;
  while (at + 12 <= size && !seen_end) {
    uint32_t length = be32(d + at);
    if (at + 12 + length > size) break;
    const unsigned char *type = d + at + 4, *body = d + at + 8;
    if (crc32_reference(type, length + 4) != be32(body + length)) {
      free(idat);
      return NULL;
    }
    if (memcmp(type, "IHDR", 4) == 0) {
      *width = (int)be32(body), *height = (int)be32(body + 4);
      if (body[8] != 8 || body[9] != 2 || body[12] != 0) {
        free(idat);
        return NULL;
      }
    } else if (memcmp(type, "IDAT", 4) == 0) {
      idat = realloc(idat, idat_size + length);
      memcpy(idat + idat_size, body, length);
      idat_size += length;
    } else if (memcmp(type, "IEND", 4) == 0) {
      seen_end = 1;
    }
    at += 12 + length;
  }
  if (!seen_end || !idat || *width <= 0 || *height <= 0) {
    free(idat);
    return NULL;
  }
  size_t stride = 1 + 3 * (size_t)*width, raw_size = stride * (size_t)*height;
  unsigned char *raw = malloc(raw_size + 1), *rgb = malloc(raw_size);
  long got = inflate_zlib(idat, idat_size, raw, raw_size + 1);
  free(idat);
  if (got != (long)raw_size) {
    free(raw), free(rgb);
    return NULL;
  }
  for (int y = 0; y < *height; y++) {
    const unsigned char *line = raw + (size_t)y * stride;
    unsigned char *o = rgb + (size_t)y * 3 * (size_t)*width, *up = y ? o - 3 * (size_t)*width : NULL;
    for (size_t k = 0; k < 3 * (size_t)*width; k++) {
      unsigned left = k >= 3 ? o[k - 3] : 0, above = up ? up[k] : 0;
      switch (line[0]) {
      case 0: o[k] = line[1 + k]; break;
      case 1: o[k] = (unsigned char)(line[1 + k] + left); break;
      case 2: o[k] = (unsigned char)(line[1 + k] + above); break;
      default: free(raw), free(rgb); return NULL;
      }
    }
  }
  free(raw);
  return rgb;
}

// ---------------------------------------------------------------- inputs
// Uniform pixels, some outside [0, 1] (the writers clamp them).
static float *random_clip(uint64_t seed, int64_t frames, int64_t height, int64_t width) {
  size_t n = (size_t)(3 * frames * height * width);
  float *p = malloc(n * sizeof *p);
  vdit_rng_uniform(seed, 0, n, p);
  for (size_t i = 0; i < n; i++) p[i] = 1.4f * p[i] - 0.2f;
  return p;
}

static float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

static void path_in_tmp(char *path, size_t size, const char *name) {
  const char *tmp = getenv("VDIT_TEST_TMP");
  snprintf(path, size, "%s/%s", tmp ? tmp : ".", name);
}

// ---------------------------------------------------------------- tests
// Each pixel's entry is nearly the nearest of the palette's entries the image uses: the
// encoder maps a dithered (+-6 levels a channel) value binned to 5 bits a channel, so it may
// be off the nearest by 2 * (6 + 4) * sqrt(3) < 35 levels of distance. Returns the worst
// excess over the nearest and the mean absolute error per channel (levels).
static double gif_worst_excess(const gif_image *g, const float *pixels, size_t frames, size_t area, double *mean_abs) {
  size_t plane = area * frames;
  int used[256] = {0};
  for (size_t i = 0; i < plane; i++) used[g->indices[i]] = 1;
  double worst_excess = 0, abs_error = 0;
  for (size_t f = 0; f < frames; f++)
    for (size_t i = 0; i < area; i++) {
      double want[3], best = INFINITY;
      for (int c = 0; c < 3; c++) want[c] = floor(255.0 * clamp01(pixels[c * plane + f * area + i]) + 0.5);
      for (int k = 0; k < 256; k++)
        if (used[k]) {
          double d = 0;
          for (int c = 0; c < 3; c++) d += (g->palette[k][c] - want[c]) * (g->palette[k][c] - want[c]);
          best = fmin(best, sqrt(d));
        }
      const unsigned char *got = g->palette[g->indices[f * area + i]];
      double d = 0;
      for (int c = 0; c < 3; c++) d += (got[c] - want[c]) * (got[c] - want[c]), abs_error += fabs(got[c] - want[c]);
      worst_excess = fmax(worst_excess, sqrt(d) - best);
    }
  *mean_abs = abs_error / (3.0 * (double)plane);
  return worst_excess;
}

static void check_gif(const char *path, const float *pixels, int64_t frames, int64_t height, int64_t width, float fps,
                      double mean_error_limit) {
  CHECK_OK(vdit_video_write(path, pixels, frames, height, width, fps));
  size_t size = 0;
  unsigned char *data = read_all(path, &size);
  CHECK(data != NULL);
  if (!data) return;
  gif_image g;
  CHECK(gif_decode(data, size, &g));
  CHECK_EQ_INT(g.frames, frames);
  CHECK_EQ_INT(g.width, width);
  CHECK_EQ_INT(g.height, height);
  CHECK_EQ_INT(g.loops, 0); // forever
  CHECK_EQ_INT(g.delay, (int)(100.0f / fps + 0.5f));
  if (g.frames == frames) {
    double mean = 0;
    CHECK(gif_worst_excess(&g, pixels, (size_t)frames, (size_t)(height * width), &mean) < 35.0);
    if (mean_error_limit > 0) {
      CHECK(mean < mean_error_limit);
      if (!(mean < mean_error_limit)) fprintf(stderr, "  mean |error| %.3f levels\n", mean);
    }
  }
  free(g.indices);
  free(data);
}

static void test_gif(void) {
  char path[1024];
  path_in_tmp(path, sizeof path, "world_video_random.gif");
  float *noise = random_clip(11, 3, 37, 53); // odd sizes; random indices fill the LZW table
  check_gif(path, noise, 3, 37, 53, 8.0f, 0);
  free(noise);
  noise = random_clip(12, 2, 90, 80); // > 4096 codes per frame: the table restarts
  check_gif(path, noise, 2, 90, 80, 24.0f, 0);
  free(noise);
  float one[3] = {0.5f, 2.0f, -1.0f}; // a single pixel, clamped
  path_in_tmp(path, sizeof path, "world_video_pixel.GIF");
  check_gif(path, one, 1, 1, 1, 1.0f, 0.5);

  vdit_world_config c;
  vdit_world_config_default(&c);
  c.height = 40, c.width = 56, c.frames = 5;
  vdit_world_clip clip;
  CHECK_OK(vdit_world_render(&c, 4, &clip));
  path_in_tmp(path, sizeof path, "world_video_clip.gif");
  if (clip.pixels) check_gif(path, clip.pixels, c.frames, c.height, c.width, c.fps, 3.5); // smooth: the dither dominates
  vdit_world_clip_free(&clip);
}

// Every stream length from 1 to 1100 pixels of noise, so that the last code lands on each
// code-width boundary (the decoder widens after the last code too, before the end code).
static void test_gif_lengths(void) {
  float *noise = random_clip(13, 1, 1, 1100);
  float *row = malloc(3 * 1100 * sizeof *row);
  int failures = 0;
  for (int64_t n = 1; n <= 1100; n++) {
    for (int c = 0; c < 3; c++) memcpy(row + c * n, noise + c * 1100, (size_t)n * sizeof *row);
    world_bytes bytes = {0};
    CHECK_OK(world_encode_gif(row, 1, 1, n, 8.0f, &bytes));
    gif_image g;
    int ok = gif_decode(bytes.data, bytes.size, &g) && g.frames == 1 && g.width == n;
    double mean;
    ok = ok && gif_worst_excess(&g, row, 1, (size_t)n, &mean) < 35.0;
    failures += !ok;
    free(g.indices);
    world_bytes_free(&bytes);
  }
  CHECK_EQ_INT(failures, 0);
  free(row);
  free(noise);
}

static void check_png(const char *path, const float *pixels, int64_t frames, int64_t height, int64_t width,
                      int64_t rows, int64_t columns) {
  CHECK_OK(vdit_video_write(path, pixels, frames, height, width, 8.0f));
  size_t size = 0;
  unsigned char *data = read_all(path, &size);
  CHECK(data != NULL);
  if (!data) return;
  int w = 0, h = 0;
  unsigned char *rgb = png_decode(data, size, &w, &h);
  CHECK(rgb != NULL);
  CHECK_EQ_INT(w, columns * width);
  CHECK_EQ_INT(h, rows * height);
  if (rgb && w == columns * width && h == rows * height) {
    size_t area = (size_t)(height * width), plane = area * (size_t)frames;
    double worst = 0;
    size_t black_mismatch = 0;
    for (int64_t y = 0; y < h; y++)
      for (int64_t x = 0; x < w; x++) {
        int64_t f = (y / height) * columns + x / width;
        for (int c = 0; c < 3; c++) {
          unsigned got = rgb[3 * ((size_t)y * (size_t)w + (size_t)x) + (size_t)c];
          if (f >= frames) {
            black_mismatch += got != 0;
            continue;
          }
          double want = 255.0 * clamp01(pixels[(size_t)c * plane + (size_t)f * area + (size_t)((y % height) * width + x % width)]);
          worst = fmax(worst, fabs((double)got - want));
        }
      }
    CHECK(worst <= 0.5 + 1e-3); // rounded to the nearest level
    CHECK_EQ_INT(black_mismatch, 0);
  }
  free(rgb);
  free(data);
}

static void test_png(void) {
  char path[1024];
  path_in_tmp(path, sizeof path, "world_video_random.png");
  float *noise = random_clip(21, 5, 19, 23); // 3 x 2 grid, one empty cell
  check_png(path, noise, 5, 19, 23, 2, 3);
  free(noise);
  vdit_world_config c;
  vdit_world_config_default(&c);
  c.height = 32, c.width = 48, c.frames = 16; // a smooth clip: long LZ77 matches
  vdit_world_clip clip;
  CHECK_OK(vdit_world_render(&c, 5, &clip));
  path_in_tmp(path, sizeof path, "world_video_clip.png");
  if (clip.pixels) check_png(path, clip.pixels, c.frames, c.height, c.width, 4, 4);
  size_t size = 0;
  unsigned char *data = read_all(path, &size);
  CHECK(data && size < (size_t)(3 * 16 * 32 * 48) / 2); // it compresses
  free(data);
  vdit_world_clip_free(&clip);
  float one[3] = {0.25f, 0.5f, 1.0f};
  path_in_tmp(path, sizeof path, "world_video_pixel.png");
  check_png(path, one, 1, 1, 1, 1, 1);
}

static void test_y4m(void) {
  char path[1024];
  path_in_tmp(path, sizeof path, "world_video_random.y4m");
  int64_t frames = 3, height = 7, width = 10;
  float *noise = random_clip(31, frames, height, width);
  CHECK_OK(vdit_video_write(path, noise, frames, height, width, 12.5f));
  size_t size = 0;
  unsigned char *data = read_all(path, &size);
  CHECK(data != NULL);
  const char *header = "YUV4MPEG2 W10 H7 F12500:1000 Ip A1:1 C444\n";
  size_t header_size = strlen(header), area = (size_t)(height * width), plane = area * (size_t)frames;
  CHECK(data && size == header_size + (size_t)frames * (6 + 3 * area));
  if (data && size == header_size + (size_t)frames * (6 + 3 * area)) {
    CHECK(memcmp(data, header, header_size) == 0);
    double worst = 0;
    for (size_t f = 0; f < (size_t)frames; f++) {
      const unsigned char *frame = data + header_size + f * (6 + 3 * area);
      CHECK(memcmp(frame, "FRAME\n", 6) == 0);
      for (size_t i = 0; i < area; i++) {
        double y = (frame[6 + i] - 16.0) / 219.0, cb = (frame[6 + area + i] - 128.0) / 224.0,
               cr = (frame[6 + 2 * area + i] - 128.0) / 224.0;
        double rgb[3] = {y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb};
        for (int c = 0; c < 3; c++) worst = fmax(worst, fabs(rgb[c] - clamp01(noise[(size_t)c * plane + f * area + i])));
      }
    }
    CHECK(worst < 0.008); // half a level of Y plus 1.772 half levels of Cb
  }
  free(data);
  free(noise);
  float one[3] = {0, 0, 0};
  CHECK_OK(vdit_video_write(path, one, 1, 1, 1, 30.0f));
  data = read_all(path, &size);
  CHECK(data && strncmp((char *)data, "YUV4MPEG2 W1 H1 F30:1 ", 22) == 0);
  free(data);
}

static void test_errors(void) {
  char path[1024], folder[1024];
  path_in_tmp(folder, sizeof folder, "");
  float pixels[3 * 2 * 2 * 2];
  for (int i = 0; i < 24; i++) pixels[i] = (float)i / 24.0f;
  vdit_video_format format;
  CHECK_OK(vdit_video_format_from_path("a/b.Y4M", &format));
  CHECK_EQ_INT(format, VDIT_VIDEO_Y4M);
  CHECK_OK(vdit_video_format_from_path("x.png", &format));
  CHECK_EQ_INT(format, VDIT_VIDEO_PNG_GRID);
  CHECK_STATUS(vdit_video_format_from_path("clip.mp4", &format), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), ".gif, .png or .y4m") != NULL);
  CHECK_STATUS(vdit_video_format_from_path(".gif", &format), VDIT_ERROR_INVALID_ARGUMENT);
  path_in_tmp(path, sizeof path, "world_video_bad.mp4");
  CHECK_STATUS(vdit_video_write(path, pixels, 2, 2, 2, 8.0f), VDIT_ERROR_INVALID_ARGUMENT);

  // NaN: an error naming the pixel, and the file already there is left as it was
  path_in_tmp(path, sizeof path, "world_video_keep.gif");
  CHECK_OK(vdit_video_write(path, pixels, 2, 2, 2, 8.0f));
  size_t before_size = 0, after_size = 0;
  unsigned char *before = read_all(path, &before_size);
  pixels[13] = NAN;
  CHECK_STATUS(vdit_video_write(path, pixels, 2, 2, 2, 8.0f), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "(channel 1, frame 1, y 0, x 1) is NaN") != NULL);
  unsigned char *after = read_all(path, &after_size);
  CHECK(before && after && before_size == after_size && memcmp(before, after, before_size) == 0);
  free(before), free(after);
  pixels[13] = 0.5f;

  CHECK_STATUS(vdit_video_write("/no-such-folder-vdit/clip.gif", pixels, 2, 2, 2, 8.0f), VDIT_ERROR_IO);
  CHECK(strstr(vdit_last_error(), "/no-such-folder-vdit/clip.gif") != NULL);
  CHECK_STATUS(vdit_video_write(folder, pixels, 2, 2, 2, 8.0f), VDIT_ERROR_INVALID_ARGUMENT); // "dir/" has no extension
  path_in_tmp(path, sizeof path, "world_video_sizes.png");
  CHECK_STATUS(vdit_video_write(path, pixels, 0, 2, 2, 8.0f), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_video_write(path, pixels, 2, 2, 2, 0.0f), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_video_write(path, NULL, 2, 2, 2, 8.0f), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_video_write(NULL, pixels, 2, 2, 2, 8.0f), VDIT_ERROR_INVALID_ARGUMENT);
  // a folder in the way of the rename
  path_in_tmp(path, sizeof path, "world_video_folder.gif");
  mkdir(path, 0755);
  CHECK_STATUS(vdit_video_write(path, pixels, 2, 2, 2, 8.0f), VDIT_ERROR_IO);
  CHECK_EQ_INT(count_temporaries(folder), 0);
}

int main(void) {
  test_gif();
  test_gif_lengths();
  test_png();
  test_y4m();
  test_errors();
  return check_finish("test_world_video");
}
