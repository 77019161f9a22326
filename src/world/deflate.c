// A small zlib compressor for PNG: greedy LZ77 (3-byte hash chains, a 32 KiB window) coded
// in one fixed-Huffman deflate block (RFC 1951 section 3.2.6), wrapped as a zlib stream
// (RFC 1950) with its Adler-32; and PNG's CRC-32.
#include <stdlib.h>
#include <string.h>

#include "world/video_internal.h"

uint32_t world_crc32(uint32_t crc, const unsigned char *data, size_t size) {
  crc = ~crc;
  for (size_t i = 0; i < size; i++) {
    crc ^= data[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t world_adler32(const unsigned char *data, size_t size) {
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < size; i++) {
    a = (a + data[i]) % 65521u;
    b = (b + a) % 65521u;
  }
  return b << 16 | a;
}

typedef struct bit_writer {
  world_bytes *out;
  uint64_t accumulator;
  int count;
} bit_writer;

static void put_bits(bit_writer *w, uint32_t value, int bits) { // LSB first
  w->accumulator |= (uint64_t)value << w->count;
  w->count += bits;
  while (w->count >= 8) {
    world_bytes_byte(w->out, (unsigned)(w->accumulator & 0xFFu));
    w->accumulator >>= 8;
    w->count -= 8;
  }
}

// Huffman codes go most significant bit first.
static void put_code(bit_writer *w, uint32_t code, int bits) {
  uint32_t reversed = 0;
  for (int i = 0; i < bits; i++) reversed |= ((code >> i) & 1u) << (bits - 1 - i);
  put_bits(w, reversed, bits);
}

static void put_literal(bit_writer *w, unsigned symbol) { // the fixed literal/length code
  if (symbol < 144) put_code(w, 0x30 + symbol, 8);
  else if (symbol < 256) put_code(w, 0x190 + symbol - 144, 9);
  else if (symbol < 280) put_code(w, symbol - 256, 7);
  else put_code(w, 0xC0 + symbol - 280, 8);
}

static const uint16_t length_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                         31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                         2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t distance_base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                           193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t distance_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                           6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static void put_match(bit_writer *w, unsigned length, unsigned distance) {
  int l = 28;
  while (length_base[l] > length) l--;
  put_literal(w, 257 + (unsigned)l);
  put_bits(w, length - length_base[l], length_extra[l]);
  int d = 29;
  while (distance_base[d] > distance) d--;
  put_code(w, (uint32_t)d, 5);
  put_bits(w, distance - distance_base[d], distance_extra[d]);
}

enum { WINDOW = 32768, HASH_BITS = 15, MIN_MATCH = 3, MAX_MATCH = 258, CHAIN_DEPTH = 16 };

static uint32_t hash3(const unsigned char *p) {
  return ((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]) * 2654435761u >> (32 - HASH_BITS);
}

void world_zlib_compress(const unsigned char *data, size_t size, world_bytes *out) {
  world_bytes_byte(out, 0x78); // deflate, 32 KiB window
  world_bytes_byte(out, 0x01); // no dictionary, fastest; (0x78 * 256 + 0x01) % 31 == 0
  bit_writer w = {.out = out};
  put_bits(&w, 1, 1); // final block
  put_bits(&w, 1, 2); // fixed Huffman codes
  // head[h]: the last position + 1 with hash h; previous[p % WINDOW]: the one before it
  int64_t *head = calloc((size_t)1 << HASH_BITS, sizeof *head), *previous = malloc(WINDOW * sizeof *previous);
  if (!head || !previous) {
    out->failed = 1;
    free(head), free(previous);
    return;
  }
  size_t i = 0;
  while (i < size) {
    unsigned best_length = 0, best_distance = 0;
    if (i + MIN_MATCH <= size) {
      uint32_t h = hash3(data + i);
      int64_t candidate = head[h] - 1;
      size_t limit = size - i < MAX_MATCH ? size - i : MAX_MATCH;
      for (int depth = 0; depth < CHAIN_DEPTH && candidate >= 0 && i - (size_t)candidate <= WINDOW; depth++) {
        const unsigned char *a = data + candidate, *b = data + i;
        unsigned n = 0;
        while (n < limit && a[n] == b[n]) n++;
        if (n > best_length) best_length = n, best_distance = (unsigned)(i - (size_t)candidate);
        if (n == limit) break;
        candidate = previous[candidate % WINDOW];
      }
    }
    size_t step = best_length >= MIN_MATCH ? best_length : 1;
    if (best_length >= MIN_MATCH) put_match(&w, best_length, best_distance);
    else put_literal(&w, data[i]);
    for (size_t k = i; k < i + step; k++) // index every position the step covers
      if (k + MIN_MATCH <= size) {
        uint32_t h = hash3(data + k);
        previous[k % WINDOW] = head[h] - 1;
        head[h] = (int64_t)k + 1;
      }
    i += step;
  }
  put_literal(&w, 256); // end of block
  if (w.count > 0) put_bits(&w, 0, 8 - w.count);
  world_bytes_u32_be(out, world_adler32(data, size));
  free(head);
  free(previous);
}
