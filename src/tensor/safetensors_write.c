// Safetensors writer: CPU contiguous tensors to a file, atomically (temporary file in the
// same folder, fsync, rename, fsync of the folder).
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/json.h"
#include "tensor/safetensors_format.h"
#include "vdit/tensor.h"

#define WRITE_FN "vdit_safetensors_write"

// What the writer knows about one tensor after checking it.
typedef struct planned_tensor {
  const safetensors_dtype *dtype;
  uint64_t bytes;
  uint64_t begin; // offset in the data section
  int alignment;  // bytes per element, 1 for sub-byte types
} planned_tensor;

// Checks `count` strings for NULL, UTF-8 and uniqueness; `what` is "tensor name" or "metadata key".
static vdit_status check_unique_strings(size_t count, const char *const *strings, const char *what) {
  if (count == 0) return VDIT_OK;
  safetensors_name_ref *refs = malloc(count * sizeof *refs);
  if (!refs) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, WRITE_FN ": out of memory checking %ss", what);
  vdit_status status = VDIT_OK;
  for (size_t i = 0; i < count && status == VDIT_OK; i++) {
    if (!strings[i]) status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": %s %zu is NULL", what, i);
    else if (!vdit_json_utf8_valid(strings[i], strlen(strings[i]))) {
      char quoted[160];
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": %s '%s' is not valid UTF-8", what,
                          safetensors_quote(strings[i], strlen(strings[i]), 64, quoted, sizeof quoted));
    }
    refs[i] = (safetensors_name_ref){strings[i], i};
  }
  if (status == VDIT_OK) {
    qsort(refs, count, sizeof *refs, safetensors_compare_names);
    for (size_t i = 1; i < count; i++)
      if (strcmp(refs[i - 1].name, refs[i].name) == 0) {
        char quoted[160];
        status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": %s '%s' appears twice", what,
                            safetensors_quote(refs[i].name, strlen(refs[i].name), 64, quoted, sizeof quoted));
        break;
      }
  }
  free(refs);
  return status;
}

// Checks one tensor and fills dtype, bytes and alignment of *plan.
static vdit_status check_tensor(const char *name, const vdit_tensor *t, planned_tensor *plan) {
  char quoted[160];
  safetensors_quote(name, strlen(name), 64, quoted, sizeof quoted);
  if (strcmp(name, "__metadata__") == 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": '__metadata__' is reserved, not a tensor name");
  if (t->device.type != VDIT_DEVICE_CPU)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": tensor '%s' is on a GPU; copy it to the CPU first", quoted);
  plan->dtype = safetensors_dtype_from_vdit(t->dtype);
  if (!plan->dtype)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": tensor '%s' has an invalid dtype %d", quoted, (int)t->dtype);
  if (t->ndim < 0 || t->ndim > VDIT_MAX_DIMS)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": tensor '%s' has ndim %d, outside 0..%d", quoted, t->ndim,
                      VDIT_MAX_DIMS);
  uint64_t elements = 1;
  int zero = 0;
  for (int i = 0; i < t->ndim; i++) {
    if (t->shape[i] < 0)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": tensor '%s' has a negative dim %" PRId64, quoted,
                        t->shape[i]);
    if (t->shape[i] == 0) zero = 1;
    else if (elements > (uint64_t)INT64_MAX / (uint64_t)t->shape[i])
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": tensor '%s' has more than 2^63 elements", quoted);
    else elements *= (uint64_t)t->shape[i];
  }
  if (zero) elements = 0;
  // Row-major strides are required where they matter: dims of size 1 may have any stride,
  // and a tensor of no elements is contiguous.
  if (elements > 0) {
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
      if (t->shape[i] > 1 && t->stride[i] != expected)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                          WRITE_FN ": tensor '%s' is not contiguous (dim %d has stride %" PRId64 ", expected %" PRId64
                                   "); copy it into a contiguous tensor first",
                          quoted, i, t->stride[i], expected);
      expected *= t->shape[i];
    }
  }
  if (elements > UINT64_MAX / (uint64_t)plan->dtype->bits)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": tensor '%s' is too large", quoted);
  uint64_t bits = elements * (uint64_t)plan->dtype->bits;
  if (bits % 8 != 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      WRITE_FN ": tensor '%s' has %" PRIu64 " %s elements, which do not fill whole bytes "
                               "(safetensors needs an even count for f4)",
                      quoted, elements, vdit_dtype_name(t->dtype));
  plan->bytes = bits / 8;
  int element_bytes = vdit_dtype_element_bytes(t->dtype);
  plan->alignment = element_bytes > 0 ? element_bytes : 1; // f4: bytes
  if (plan->bytes > 0 && t->data == NULL)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": tensor '%s' has data NULL", quoted);
  return VDIT_OK;
}

// Data order: decreasing alignment, then as given (so every tensor lands aligned).
typedef struct order_ref {
  int alignment;
  size_t index;
} order_ref;

static int compare_order(const void *a, const void *b) {
  const order_ref *x = a, *y = b;
  if (x->alignment != y->alignment) return x->alignment > y->alignment ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

static void append_header(vdit_json_writer *w, size_t count, const char *const *names, const vdit_tensor *tensors,
                          const planned_tensor *plans, size_t metadata_count, const char *const *keys,
                          const char *const *values) {
  vdit_json_append_text(w, "{");
  int first = 1;
  if (metadata_count) {
    vdit_json_append_text(w, "\"__metadata__\":{");
    for (size_t i = 0; i < metadata_count; i++) {
      if (i) vdit_json_append_text(w, ",");
      vdit_json_append_string(w, keys[i], strlen(keys[i]));
      vdit_json_append_text(w, ":");
      vdit_json_append_string(w, values[i], strlen(values[i]));
    }
    vdit_json_append_text(w, "}");
    first = 0;
  }
  for (size_t i = 0; i < count; i++) {
    if (!first) vdit_json_append_text(w, ",");
    first = 0;
    vdit_json_append_string(w, names[i], strlen(names[i]));
    vdit_json_append_text(w, ":{\"dtype\":");
    vdit_json_append_string(w, plans[i].dtype->name, strlen(plans[i].dtype->name));
    vdit_json_append_text(w, ",\"shape\":[");
    for (int d = 0; d < tensors[i].ndim; d++) {
      if (d) vdit_json_append_text(w, ",");
      vdit_json_append_int64(w, tensors[i].shape[d]);
    }
    vdit_json_append_text(w, "],\"data_offsets\":[");
    vdit_json_append_uint64(w, plans[i].begin);
    vdit_json_append_text(w, ",");
    vdit_json_append_uint64(w, plans[i].begin + plans[i].bytes);
    vdit_json_append_text(w, "]}");
  }
  vdit_json_append_text(w, "}");
  // Pad with spaces (JSON whitespace) so that the data section starts at a multiple of 8.
  while (w->length % 8 != 0 && !w->failed) vdit_json_append_text(w, " ");
}

static vdit_status write_all(int fd, const char *path, const void *data, uint64_t bytes) {
  const unsigned char *p = data;
  while (bytes > 0) {
    size_t chunk = bytes > ((uint64_t)1 << 30) ? ((size_t)1 << 30) : (size_t)bytes;
    ssize_t written = write(fd, p, chunk);
    if (written < 0) {
      if (errno == EINTR) continue;
      return VDIT_ERROR(VDIT_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    p += written;
    bytes -= (uint64_t)written;
  }
  return VDIT_OK;
}

// fsync of the folder holding `path`, so that the rename itself is durable.
static void sync_parent_folder(const char *path) {
  const char *slash = strrchr(path, '/');
  char folder[4096];
  if (!slash) snprintf(folder, sizeof folder, ".");
  else if (slash == path) snprintf(folder, sizeof folder, "/");
  else if ((size_t)(slash - path) < sizeof folder) snprintf(folder, sizeof folder, "%.*s", (int)(slash - path), path);
  else return;
  int fd = open(folder, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)fsync(fd); // best effort: some file systems refuse fsync on folders
  close(fd);
}

static vdit_status write_file(const char *path, const vdit_json_writer *header, size_t count,
                              const vdit_tensor *tensors, const planned_tensor *plans, const order_ref *order) {
  size_t path_length = strlen(path);
  char *temporary = malloc(path_length + 16);
  if (!temporary) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory writing %s", path);
  snprintf(temporary, path_length + 16, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(temporary);
  if (fd < 0) {
    vdit_status status = VDIT_ERROR(VDIT_ERROR_IO, "cannot create a temporary file next to %s: %s", path, strerror(errno));
    free(temporary);
    return status;
  }
  unsigned char length_bytes[8];
  uint64_t n = header->length;
  for (int i = 0; i < 8; i++) length_bytes[i] = (unsigned char)(n >> (8 * i));
  vdit_status status = VDIT_OK;
  if (fchmod(fd, 0644) != 0) status = VDIT_ERROR(VDIT_ERROR_IO, "cannot set the mode of %s: %s", temporary, strerror(errno));
  if (status == VDIT_OK) status = write_all(fd, temporary, length_bytes, 8);
  if (status == VDIT_OK) status = write_all(fd, temporary, header->data, header->length);
  for (size_t k = 0; k < count && status == VDIT_OK; k++) {
    size_t i = order[k].index;
    status = write_all(fd, temporary, tensors[i].data, plans[i].bytes);
  }
  if (status == VDIT_OK && fsync(fd) != 0)
    status = VDIT_ERROR(VDIT_ERROR_IO, "cannot flush %s to disk: %s", temporary, strerror(errno));
  if (close(fd) != 0 && status == VDIT_OK)
    status = VDIT_ERROR(VDIT_ERROR_IO, "cannot close %s: %s", temporary, strerror(errno));
  if (status == VDIT_OK && rename(temporary, path) != 0)
    status = VDIT_ERROR(VDIT_ERROR_IO, "cannot rename %s to %s: %s", temporary, path, strerror(errno));
  if (status != VDIT_OK) unlink(temporary);
  else sync_parent_folder(path);
  free(temporary);
  return status;
}

vdit_status vdit_safetensors_write(const char *path, size_t count, const char *const *names,
                                   const vdit_tensor *tensors, size_t metadata_count,
                                   const char *const *metadata_keys, const char *const *metadata_values) {
  if (!path) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": path is NULL");
  if (count && (!names || !tensors))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": names or tensors is NULL for %zu tensors", count);
  if (metadata_count && (!metadata_keys || !metadata_values))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": metadata keys or values is NULL for %zu entries",
                      metadata_count);
  VDIT_TRY(check_unique_strings(count, names, "tensor name"));
  VDIT_TRY(check_unique_strings(metadata_count, metadata_keys, "metadata key"));
  for (size_t i = 0; i < metadata_count; i++) {
    if (!metadata_values[i])
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": metadata value %zu is NULL", i);
    if (!vdit_json_utf8_valid(metadata_values[i], strlen(metadata_values[i])))
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": metadata value %zu is not valid UTF-8", i);
  }

  planned_tensor *plans = count ? calloc(count, sizeof *plans) : NULL;
  order_ref *order = count ? malloc(count * sizeof *order) : NULL;
  vdit_json_writer header;
  vdit_json_writer_init(&header);
  vdit_status status = VDIT_OK;
  if (count && (!plans || !order)) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory writing %s", path);
  for (size_t i = 0; i < count && status == VDIT_OK; i++) {
    status = check_tensor(names[i], &tensors[i], &plans[i]);
    order[i] = (order_ref){plans[i].alignment, i};
  }
  if (status == VDIT_OK && count > 1) qsort(order, count, sizeof *order, compare_order);
  uint64_t position = 0;
  for (size_t k = 0; k < count && status == VDIT_OK; k++) {
    planned_tensor *plan = &plans[order[k].index];
    plan->begin = position;
    if (plan->bytes > UINT64_MAX - position)
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": the tensors' total size overflows");
    else position += plan->bytes;
  }
  if (status == VDIT_OK) {
    append_header(&header, count, names, tensors, plans, metadata_count, metadata_keys, metadata_values);
    status = vdit_json_writer_finish(&header);
  }
  if (status == VDIT_OK && header.length > VDIT_SAFETENSORS_MAX_HEADER_BYTES)
    status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, WRITE_FN ": header of %zu bytes exceeds the format's %d-byte limit",
                        header.length, VDIT_SAFETENSORS_MAX_HEADER_BYTES);
  if (status == VDIT_OK) status = write_file(path, &header, count, tensors, plans, order);
  vdit_json_writer_free(&header);
  free(plans);
  free(order);
  return status;
}
