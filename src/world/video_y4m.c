// YUV4MPEG2 (.y4m), the raw format video tools read (ffmpeg, mpv): 4:4:4 8-bit, BT.601
// limited range (Y in 16..235, Cb and Cr in 16..240), progressive, square pixels.
#include <math.h>
#include <stdio.h>

#include "world/video_internal.h"

static unsigned char limited(float v, float lo, float range) {
  float q = lo + range * v + 0.5f;
  return (unsigned char)(q < 0.0f ? 0.0f : (q > 255.0f ? 255.0f : q));
}

vdit_status world_encode_y4m(const float *pixels, int64_t frames, int64_t height, int64_t width, float fps,
                             world_bytes *out) {
  char header[128];
  long numerator = (long)fps, denominator = 1;
  if ((float)numerator != fps) numerator = (long)(fps * 1000.0f + 0.5f), denominator = 1000;
  int n = snprintf(header, sizeof header, "YUV4MPEG2 W%lld H%lld F%ld:%ld Ip A1:1 C444\n", (long long)width,
                   (long long)height, numerator, denominator);
  world_bytes_put(out, header, (size_t)n);
  size_t area = (size_t)(height * width), plane = area * (size_t)frames;
  for (int64_t f = 0; f < frames; f++) {
    world_bytes_put(out, "FRAME\n", 6);
    const float *red = pixels + (size_t)f * area, *green = red + plane, *blue = green + plane;
    for (int channel = 0; channel < 3; channel++)
      for (size_t i = 0; i < area; i++) {
        float r = red[i], g = green[i], b = blue[i];
        r = r < 0.0f ? 0.0f : (r > 1.0f ? 1.0f : r);
        g = g < 0.0f ? 0.0f : (g > 1.0f ? 1.0f : g);
        b = b < 0.0f ? 0.0f : (b > 1.0f ? 1.0f : b);
        unsigned char value;
        if (channel == 0) value = limited(0.299f * r + 0.587f * g + 0.114f * b, 16.0f, 219.0f);
        else if (channel == 1) value = limited(0.5f + (-0.168736f * r - 0.331264f * g + 0.5f * b), 16.0f, 224.0f);
        else value = limited(0.5f + (0.5f * r - 0.418688f * g - 0.081312f * b), 16.0f, 224.0f);
        world_bytes_byte(out, value);
      }
  }
  return VDIT_OK;
}
