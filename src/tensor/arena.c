// Arenas: one block of host or device memory handed out by bumping an offset, released
// all at once. Per-step activations and staging buffers come from here instead of one
// allocation each.
#include <string.h>

#include "tensor/tensor_internal.h"
#include "vdit/tensor.h"

vdit_status vdit_arena_init(vdit_arena *arena, vdit_device device, size_t capacity) {
  if (arena == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_arena_init: arena is NULL");
  memset(arena, 0, sizeof *arena);
  VDIT_TRY(vdit_device_check(device));
  void *base = NULL;
  if (capacity > 0) {
    if (device.type == VDIT_DEVICE_CPU) {
      base = vdit_host_alloc(capacity, VDIT_ARENA_ALIGNMENT);
      if (base == NULL) return VDIT_ERROR_OUT_OF_MEMORY; // message set by vdit_host_alloc
    } else {
      VDIT_TRY(vdit_device_alloc(device, capacity, &base)); // cudaMalloc: 256-byte aligned
    }
  }
  arena->device = device;
  arena->base = base;
  arena->capacity = capacity;
  return VDIT_OK;
}

vdit_status vdit_arena_alloc(vdit_arena *arena, size_t bytes, size_t alignment, void **ptr) {
  if (ptr == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_arena_alloc: ptr is NULL");
  *ptr = NULL;
  if (arena == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_arena_alloc: arena is NULL");
  if (alignment == 0) alignment = VDIT_ARENA_ALIGNMENT;
  if ((alignment & (alignment - 1)) != 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_arena_alloc: alignment %zu is not a power of two", alignment);
  if (bytes == 0) return VDIT_OK;
  // Align the address (the block itself is only VDIT_ARENA_ALIGNMENT aligned).
  uintptr_t base = (uintptr_t)arena->base;
  uintptr_t cursor = base + arena->used;
  uintptr_t aligned = (cursor + (alignment - 1)) & ~(uintptr_t)(alignment - 1);
  size_t start = (size_t)(aligned - base), end = 0;
  if (arena->base == NULL || aligned < cursor || !vdit_size_add(start, bytes, &end) || end > arena->capacity) {
    char device[32];
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY,
                      "arena on %s is full: capacity %zu bytes, used %zu, requested %zu (alignment %zu); "
                      "give the arena more capacity (peak so far %zu)",
                      vdit_device_string(arena->device, device, sizeof device), arena->capacity, arena->used, bytes,
                      alignment, arena->peak);
  }
  arena->used = end;
  if (end > arena->peak) arena->peak = end;
  *ptr = (void *)aligned;
  return VDIT_OK;
}

vdit_status vdit_arena_tensor(vdit_arena *arena, vdit_tensor *t, vdit_dtype dtype, int ndim, const int64_t *shape) {
  if (t == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_arena_tensor: tensor is NULL");
  memset(t, 0, sizeof *t);
  if (arena == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_arena_tensor: arena is NULL");
  size_t bytes = 0;
  VDIT_TRY(vdit_tensor_check_shape("vdit_arena_tensor", dtype, ndim, shape, NULL, &bytes));
  void *data = NULL;
  VDIT_TRY(vdit_arena_alloc(arena, bytes, VDIT_ARENA_ALIGNMENT, &data));
  vdit_tensor_set_contiguous(t, data, dtype, arena->device, ndim, shape);
  return VDIT_OK;
}

void vdit_arena_reset(vdit_arena *arena) {
  if (arena) arena->used = 0;
}

void vdit_arena_free(vdit_arena *arena) {
  if (arena == NULL) return;
  if (arena->base) {
    if (arena->device.type == VDIT_DEVICE_CPU)
      vdit_host_free(arena->base);
    else
      vdit_device_free(arena->device, arena->base);
  }
  memset(arena, 0, sizeof *arena);
}
