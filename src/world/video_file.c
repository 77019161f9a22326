// Video files: the format a path names, input checks, and the atomic write (a temporary file
// next to the target, flushed and renamed into place, so a failure never leaves half a file).
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "world/video_internal.h"

void world_bytes_put(world_bytes *b, const void *data, size_t n) {
  if (b->failed) return;
  if (b->size + n > b->capacity) {
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity < b->size + n) capacity *= 2;
    unsigned char *grown = realloc(b->data, capacity);
    if (!grown) {
      b->failed = 1;
      return;
    }
    b->data = grown, b->capacity = capacity;
  }
  memcpy(b->data + b->size, data, n);
  b->size += n;
}

void world_bytes_byte(world_bytes *b, unsigned value) {
  unsigned char c = (unsigned char)value;
  world_bytes_put(b, &c, 1);
}

void world_bytes_u16_le(world_bytes *b, unsigned value) {
  unsigned char c[2] = {(unsigned char)value, (unsigned char)(value >> 8)};
  world_bytes_put(b, c, 2);
}

void world_bytes_u32_be(world_bytes *b, uint32_t value) {
  unsigned char c[4] = {(unsigned char)(value >> 24), (unsigned char)(value >> 16), (unsigned char)(value >> 8),
                        (unsigned char)value};
  world_bytes_put(b, c, 4);
}

void world_bytes_free(world_bytes *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

static int ends_with(const char *path, const char *extension) {
  size_t n = strlen(path), m = strlen(extension);
  if (n <= m) return 0;
  for (size_t i = 0; i < m; i++) {
    char c = path[n - m + i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != extension[i]) return 0;
  }
  return 1;
}

vdit_status vdit_video_format_from_path(const char *path, vdit_video_format *format) {
  if (!path || !format) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_video_format_from_path: path is NULL");
  if (ends_with(path, ".gif")) *format = VDIT_VIDEO_GIF;
  else if (ends_with(path, ".png")) *format = VDIT_VIDEO_PNG_GRID;
  else if (ends_with(path, ".y4m")) *format = VDIT_VIDEO_Y4M;
  else
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "cannot tell the video format of '%s': use .gif, .png or .y4m", path);
  return VDIT_OK;
}

static vdit_status write_atomically(const char *path, const world_bytes *bytes) {
  size_t length = strlen(path);
  char *temporary = malloc(length + 16);
  if (!temporary) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory writing %s", path);
  snprintf(temporary, length + 16, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(temporary);
  if (fd < 0) {
    vdit_status status = VDIT_ERROR(VDIT_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    free(temporary);
    return status;
  }
  vdit_status status = VDIT_OK;
  if (fchmod(fd, 0644) != 0) status = VDIT_ERROR(VDIT_ERROR_IO, "cannot set the mode of %s: %s", temporary, strerror(errno));
  for (size_t done = 0; status == VDIT_OK && done < bytes->size;) {
    ssize_t n = write(fd, bytes->data + done, bytes->size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) status = VDIT_ERROR(VDIT_ERROR_IO, "cannot write %s: %s", temporary, strerror(errno));
    else done += (size_t)n;
  }
  if (status == VDIT_OK && fsync(fd) != 0)
    status = VDIT_ERROR(VDIT_ERROR_IO, "cannot flush %s to disk: %s", temporary, strerror(errno));
  if (close(fd) != 0 && status == VDIT_OK)
    status = VDIT_ERROR(VDIT_ERROR_IO, "cannot close %s: %s", temporary, strerror(errno));
  if (status == VDIT_OK && rename(temporary, path) != 0)
    status = VDIT_ERROR(VDIT_ERROR_IO, "cannot rename %s to %s: %s", temporary, path, strerror(errno));
  if (status != VDIT_OK) unlink(temporary);
  free(temporary);
  return status;
}

vdit_status vdit_video_write(const char *path, const float *pixels, int64_t frames, int64_t height, int64_t width,
                             float fps) {
  vdit_video_format format;
  VDIT_TRY(vdit_video_format_from_path(path, &format));
  if (!pixels) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_video_write: pixels is NULL");
  if (frames < 1 || height < 1 || width < 1 || frames > 65535 || height > 16384 || width > 16384)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "cannot write %lld frames of %lldx%lld: need 1..65535 frames of 1..16384 pixels a side",
                      (long long)frames, (long long)height, (long long)width);
  if (!(fps > 0.0f) || !isfinite(fps))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "cannot write a video at %g fps: fps must be > 0", (double)fps);
  size_t plane = (size_t)frames * (size_t)height * (size_t)width;
  for (size_t i = 0; i < 3 * plane; i++)
    if (isnan(pixels[i])) {
      size_t p = i % plane;
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "cannot write %s: pixel (channel %zu, frame %zu, y %zu, x %zu) is NaN",
                        path, i / plane, p / (size_t)(height * width), p / (size_t)width % (size_t)height,
                        p % (size_t)width);
    }
  world_bytes bytes = {0};
  vdit_status status;
  switch (format) {
  case VDIT_VIDEO_GIF: status = world_encode_gif(pixels, frames, height, width, fps, &bytes); break;
  case VDIT_VIDEO_PNG_GRID: status = world_encode_png_grid(pixels, frames, height, width, &bytes); break;
  default: status = world_encode_y4m(pixels, frames, height, width, fps, &bytes); break;
  }
  if (status == VDIT_OK && bytes.failed)
    status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory encoding %s", path);
  if (status == VDIT_OK) status = write_atomically(path, &bytes);
  world_bytes_free(&bytes);
  return status;
}
