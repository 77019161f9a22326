// Aligned host allocation and overflow-checked size arithmetic.
#include "vdit/base.h"

#include <stdlib.h>

void *vdit_host_alloc(size_t bytes, size_t alignment) {
  if (bytes == 0) return NULL;
  if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) {
    VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "alignment %zu is not a power of two >= %zu",
               alignment, sizeof(void *));
    return NULL;
  }
  size_t rounded;
  if (!vdit_size_add(bytes, alignment - 1, &rounded)) {
    VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "allocation of %zu bytes overflows", bytes);
    return NULL;
  }
  rounded -= rounded % alignment; // aligned_alloc wants a multiple of the alignment
  void *pointer = aligned_alloc(alignment, rounded);
  if (pointer == NULL)
    VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "cannot allocate %zu bytes of host memory", bytes);
  return pointer;
}

void vdit_host_free(void *pointer) { free(pointer); }

int vdit_size_mul(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return 0;
  *out = a * b;
  return 1;
}

int vdit_size_add(size_t a, size_t b, size_t *out) {
  if (b > SIZE_MAX - a) return 0;
  *out = a + b;
  return 1;
}
