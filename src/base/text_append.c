#include "base/text_append.h"

#include <stdarg.h>
#include <stdio.h>

void vdit_text_append(char *buffer, size_t size, size_t *used, const char *format, ...) {
  if (*used >= size) return;
  va_list args;
  va_start(args, format);
  int n = vsnprintf(buffer + *used, size - *used, format, args);
  va_end(args);
  if (n > 0) *used = *used + (size_t)n < size ? *used + (size_t)n : size;
}
