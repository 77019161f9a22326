// Safetensors reader: maps a file read-only and validates its whole header before anything
// is handed out.
//
// Layout: 8 bytes little-endian header length N, N bytes of UTF-8 JSON, then the data
// section. The JSON object maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]} (offsets relative to the data section) and may hold "__metadata__", a
// string -> string map. The reference implementation requires the tensors, sorted by
// offset, to tile the data section exactly: no overlap, no gap, nothing after the last.
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/json.h"
#include "tensor/safetensors_format.h"
#include "vdit/tensor.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; vdit reads it in place"
#endif

typedef struct metadata_pair {
  const char *key;
  const char *value;
} metadata_pair;

struct vdit_safetensors {
  char *path;
  void *map;
  size_t map_bytes;
  uint64_t header_bytes;
  uint64_t data_bytes;
  const unsigned char *data; // start of the data section inside the map
  vdit_json *header;         // owns the names and metadata strings
  vdit_safetensors_info *entries; // header order
  size_t count;
  size_t *by_name;           // entry indices sorted by name, for find
  int64_t *dims;             // every entry's shape, back to back
  metadata_pair *metadata;
  size_t metadata_count;
};

// ---------------------------------------------------------------- messages
// Every failure is one line "PATH: [tensor 'NAME': ]reason".
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static vdit_status corrupt(const char *path, const char *tensor, const char *format, ...) {
  char reason[512];
  va_list args;
  va_start(args, format);
  vsnprintf(reason, sizeof reason, format, args);
  va_end(args);
  if (tensor) {
    char quoted[160];
    safetensors_quote(tensor, strlen(tensor), 64, quoted, sizeof quoted);
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: tensor '%s': %s", path, quoted, reason);
  }
  return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: %s", path, reason);
}

// Copies the last error (a JSON accessor's reason) before a new message overwrites it; its
// offsets count from the start of the header, which the copy says.
static void take_reason(char *out, size_t size) {
  const char *reason = vdit_last_error();
  const char *at = strstr(reason, " at byte ");
  if (at) snprintf(out, size, "%.*s at header byte %s", (int)(at - reason), reason, at + 9);
  else snprintf(out, size, "%s", reason);
}

static void format_shape(int ndim, const int64_t *shape, char *out, size_t size) {
  size_t used = (size_t)snprintf(out, size, "[");
  for (int i = 0; i < ndim && used < size; i++) {
    if (used + 28 > size) {
      snprintf(out + used, size - used, "...");
      used = strlen(out);
      break;
    }
    used += (size_t)snprintf(out + used, size - used, "%s%" PRId64, i ? ", " : "", shape[i]);
  }
  if (used < size) snprintf(out + used, size - used, "]");
}

static uint64_t read_le64(const unsigned char *p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; i--) value = (value << 8) | p[i];
  return value;
}

// ---------------------------------------------------------------- entry validation
// Reads a non-negative integer for field `what` of tensor `name`.
static vdit_status read_count(const char *path, const char *name, const vdit_json *json, vdit_json_value v,
                              const char *what, uint64_t *out) {
  if (vdit_json_get_uint64(json, v, out) == VDIT_OK) return VDIT_OK;
  char reason[256];
  take_reason(reason, sizeof reason);
  return corrupt(path, name, "%s: %s", what, reason);
}

// Validates one tensor entry (its name is `name`, its value `object`) and fills *info
// except for the data pointer. Its dims go to dims[*dim_used...].
static vdit_status read_entry(vdit_safetensors *file, const char *name, vdit_json_value object,
                              vdit_safetensors_info *info, size_t *dim_used) {
  const char *path = file->path;
  const vdit_json *json = file->header;
  if (vdit_json_type_of(json, object) != VDIT_JSON_OBJECT)
    return corrupt(path, name, "expected an object with dtype, shape and data_offsets, got %s at header byte %zu",
                   vdit_json_type_description(vdit_json_type_of(json, object)), vdit_json_offset(json, object));
  vdit_json_value dtype_value = VDIT_JSON_NONE, shape_value = VDIT_JSON_NONE, offsets_value = VDIT_JSON_NONE;
  for (vdit_json_value k = vdit_json_first(json, object); k != VDIT_JSON_NONE; k = vdit_json_next(json, k)) {
    size_t length;
    const char *key = vdit_json_string(json, k, &length);
    vdit_json_value value = vdit_json_member_value(json, k);
    if (strcmp(key, "dtype") == 0 && length == 5) dtype_value = value;
    else if (strcmp(key, "shape") == 0 && length == 5) shape_value = value;
    else if (strcmp(key, "data_offsets") == 0 && length == 12) offsets_value = value;
    else {
      char quoted[96];
      return corrupt(path, name, "unexpected field '%s' (an entry has exactly dtype, shape and data_offsets)",
                     safetensors_quote(key, length, 32, quoted, sizeof quoted));
    }
  }
  if (dtype_value == VDIT_JSON_NONE) return corrupt(path, name, "missing field 'dtype'");
  if (shape_value == VDIT_JSON_NONE) return corrupt(path, name, "missing field 'shape'");
  if (offsets_value == VDIT_JSON_NONE) return corrupt(path, name, "missing field 'data_offsets'");

  // dtype
  size_t dtype_length;
  const char *dtype_text = vdit_json_string(json, dtype_value, &dtype_length);
  if (!dtype_text)
    return corrupt(path, name, "dtype must be a string, got %s",
                   vdit_json_type_description(vdit_json_type_of(json, dtype_value)));
  const safetensors_dtype *dtype = safetensors_dtype_from_name(dtype_text, dtype_length);
  if (!dtype) {
    char quoted[96];
    return corrupt(path, name, "unknown dtype '%s' (the format has %s)",
                   safetensors_quote(dtype_text, dtype_length, 24, quoted, sizeof quoted), safetensors_dtype_list());
  }

  // shape
  if (vdit_json_type_of(json, shape_value) != VDIT_JSON_ARRAY)
    return corrupt(path, name, "shape must be an array, got %s",
                   vdit_json_type_description(vdit_json_type_of(json, shape_value)));
  size_t ndim = vdit_json_count(json, shape_value);
  if (ndim > VDIT_SAFETENSORS_MAX_DIMS)
    return corrupt(path, name, "shape has %zu dims, more than the %d vdit reads", ndim, VDIT_SAFETENSORS_MAX_DIMS);
  int64_t *shape = file->dims + *dim_used;
  uint64_t elements = 1;
  int zero = 0, overflow = 0;
  size_t d = 0;
  for (vdit_json_value v = vdit_json_first(json, shape_value); v != VDIT_JSON_NONE; v = vdit_json_next(json, v), d++) {
    char what[32];
    snprintf(what, sizeof what, "shape[%zu]", d);
    uint64_t dim;
    VDIT_TRY(read_count(path, name, json, v, what, &dim));
    if (dim > (uint64_t)INT64_MAX)
      return corrupt(path, name, "shape[%zu] = %" PRIu64 " exceeds 2^63 - 1", d, dim);
    shape[d] = (int64_t)dim;
    if (dim == 0) zero = 1;
    else if (elements > UINT64_MAX / dim) overflow = 1;
    else elements *= dim;
  }
  char shape_text[160];
  format_shape((int)ndim, shape, shape_text, sizeof shape_text);
  if (zero) elements = 0;
  else if (overflow || elements > (uint64_t)INT64_MAX)
    return corrupt(path, name, "shape %s has more than 2^63 elements", shape_text);
  // Bytes: elements * bits / 8, which must be whole bytes (the format's rule for sub-byte types).
  if (elements > UINT64_MAX / (uint64_t)dtype->bits)
    return corrupt(path, name, "shape %s of %s overflows the byte count", shape_text, dtype->name);
  uint64_t bits = elements * (uint64_t)dtype->bits;
  if (bits % 8 != 0)
    return corrupt(path, name, "shape %s of %s is %" PRIu64 " bits, not whole bytes", shape_text, dtype->name, bits);
  uint64_t bytes = bits / 8;

  // data_offsets
  if (vdit_json_type_of(json, offsets_value) != VDIT_JSON_ARRAY)
    return corrupt(path, name, "data_offsets must be an array [begin, end], got %s",
                   vdit_json_type_description(vdit_json_type_of(json, offsets_value)));
  if (vdit_json_count(json, offsets_value) != 2)
    return corrupt(path, name, "data_offsets must have 2 elements [begin, end], got %zu",
                   vdit_json_count(json, offsets_value));
  vdit_json_value begin_value = vdit_json_first(json, offsets_value);
  uint64_t begin, end;
  VDIT_TRY(read_count(path, name, json, begin_value, "data_offsets[0]", &begin));
  VDIT_TRY(read_count(path, name, json, vdit_json_next(json, begin_value), "data_offsets[1]", &end));
  if (begin > end)
    return corrupt(path, name, "data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", begin, end);
  if (end > file->data_bytes)
    return corrupt(path, name,
                   "data_offsets [%" PRIu64 ", %" PRIu64 "] run past the data section of %" PRIu64
                   " bytes (is the file truncated?)",
                   begin, end, file->data_bytes);
  if (end - begin != bytes)
    return corrupt(path, name,
                   "shape %s of %s needs %" PRIu64 " bytes but data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64,
                   shape_text, dtype->name, bytes, begin, end, end - begin);

  memset(info, 0, sizeof *info);
  info->name = name;
  info->dtype_name = dtype->name;
  info->dtype = dtype->dtype;
  info->ndim = (int)ndim;
  info->shape = ndim ? shape : NULL;
  info->element_count = elements;
  info->offset = begin;
  info->bytes = bytes;
  info->file_offset = 8 + file->header_bytes + begin;
  *dim_used += ndim;
  return VDIT_OK;
}

static vdit_status read_metadata(vdit_safetensors *file, vdit_json_value object) {
  const vdit_json *json = file->header;
  if (vdit_json_type_of(json, object) != VDIT_JSON_OBJECT)
    return corrupt(file->path, NULL, "__metadata__ must be an object of strings, got %s",
                   vdit_json_type_description(vdit_json_type_of(json, object)));
  size_t count = vdit_json_count(json, object);
  if (count == 0) return VDIT_OK;
  file->metadata = calloc(count, sizeof *file->metadata);
  if (!file->metadata) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "%s: out of memory for metadata", file->path);
  for (vdit_json_value k = vdit_json_first(json, object); k != VDIT_JSON_NONE; k = vdit_json_next(json, k)) {
    size_t key_length, value_length;
    const char *key = vdit_json_string(json, k, &key_length);
    vdit_json_value v = vdit_json_member_value(json, k);
    const char *value = vdit_json_string(json, v, &value_length);
    char quoted[96];
    safetensors_quote(key, key_length, 48, quoted, sizeof quoted);
    if (!value)
      return corrupt(file->path, NULL, "__metadata__ '%s' must be a string, got %s", quoted,
                     vdit_json_type_description(vdit_json_type_of(json, v)));
    if (strlen(key) != key_length || strlen(value) != value_length)
      return corrupt(file->path, NULL, "__metadata__ '%s' contains a NUL character, which vdit does not accept",
                     quoted);
    file->metadata[file->metadata_count++] = (metadata_pair){key, value};
  }
  return VDIT_OK;
}

// Orders entries by (begin, end) for the tiling check.
typedef struct range_ref {
  uint64_t begin, end;
  size_t index;
} range_ref;

static int compare_ranges(const void *a, const void *b) {
  const range_ref *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

// The tensors, sorted by offset, must tile the data section: each begins where the one
// before ended, and the last ends at the end of the file.
static vdit_status check_tiling(vdit_safetensors *file) {
  range_ref *ranges = NULL;
  if (file->count) {
    ranges = malloc(file->count * sizeof *ranges);
    if (!ranges) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "%s: out of memory for the offset check", file->path);
  }
  for (size_t i = 0; i < file->count; i++)
    ranges[i] = (range_ref){file->entries[i].offset, file->entries[i].offset + file->entries[i].bytes, i};
  if (file->count > 1) qsort(ranges, file->count, sizeof *ranges, compare_ranges);
  uint64_t position = 0;
  const char *previous = NULL;
  vdit_status status = VDIT_OK;
  for (size_t i = 0; i < file->count && status == VDIT_OK; i++) {
    const vdit_safetensors_info *e = &file->entries[ranges[i].index];
    if (ranges[i].begin < position) {
      char quoted[160];
      safetensors_quote(previous, strlen(previous), 64, quoted, sizeof quoted);
      status = corrupt(file->path, e->name, "data_offsets [%" PRIu64 ", %" PRIu64 "] overlap those of tensor '%s' (which end at %" PRIu64 ")",
                       ranges[i].begin, ranges[i].end, quoted, position);
    } else if (ranges[i].begin > position) {
      status = corrupt(file->path, e->name,
                       "data_offsets [%" PRIu64 ", %" PRIu64 "] leave bytes %" PRIu64 "..%" PRIu64
                       " of the data section unused (the format allows no gaps)",
                       ranges[i].begin, ranges[i].end, position, ranges[i].begin);
    }
    position = ranges[i].end;
    previous = e->name;
  }
  free(ranges);
  VDIT_TRY(status);
  if (position != file->data_bytes)
    return corrupt(file->path, NULL,
                   "the tensors end at data byte %" PRIu64 " but the data section has %" PRIu64
                   " bytes (trailing bytes after the last tensor)",
                   position, file->data_bytes);
  return VDIT_OK;
}

static vdit_status index_names(vdit_safetensors *file) {
  if (file->count == 0) return VDIT_OK;
  safetensors_name_ref *refs = malloc(file->count * sizeof *refs);
  file->by_name = malloc(file->count * sizeof *file->by_name);
  if (!refs || !file->by_name) {
    free(refs);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "%s: out of memory for the name index", file->path);
  }
  for (size_t i = 0; i < file->count; i++) refs[i] = (safetensors_name_ref){file->entries[i].name, i};
  qsort(refs, file->count, sizeof *refs, safetensors_compare_names);
  vdit_status status = VDIT_OK;
  for (size_t i = 0; i < file->count; i++) {
    file->by_name[i] = refs[i].index;
    if (i > 0 && strcmp(refs[i - 1].name, refs[i].name) == 0 && status == VDIT_OK)
      status = corrupt(file->path, refs[i].name, "appears twice in the header");
  }
  free(refs);
  return status;
}

static vdit_status read_header(vdit_safetensors *file) {
  const char *path = file->path;
  const unsigned char *bytes = file->map;
  vdit_json_error error;
  vdit_json_options options = {.max_depth = 16, .max_values = 0};
  vdit_status status =
      vdit_json_parse((const char *)bytes + 8, (size_t)file->header_bytes, &options, &file->header, &error);
  if (status == VDIT_ERROR_OUT_OF_MEMORY)
    return VDIT_ERROR(status, "%s: out of memory reading the %" PRIu64 "-byte header", path, file->header_bytes);
  if (status != VDIT_OK)
    return corrupt(path, NULL, "header is not valid JSON: %s at header byte %zu (file byte %zu)", error.message,
                   error.offset, error.offset + 8);
  const vdit_json *json = file->header;
  vdit_json_value root = vdit_json_root(json);
  if (vdit_json_type_of(json, root) != VDIT_JSON_OBJECT)
    return corrupt(path, NULL, "header must be a JSON object, got %s",
                   vdit_json_type_description(vdit_json_type_of(json, root)));

  // Count tensors and their dims first, so that storage is allocated once.
  size_t members = vdit_json_count(json, root), total_dims = 0;
  for (vdit_json_value k = vdit_json_first(json, root); k != VDIT_JSON_NONE; k = vdit_json_next(json, k)) {
    size_t n = vdit_json_count(json, vdit_json_find(json, vdit_json_member_value(json, k), "shape"));
    total_dims += n < VDIT_SAFETENSORS_MAX_DIMS ? n : VDIT_SAFETENSORS_MAX_DIMS;
  }
  if (members) {
    file->entries = calloc(members, sizeof *file->entries);
    file->dims = calloc(total_dims ? total_dims : 1, sizeof *file->dims);
    if (!file->entries || !file->dims)
      return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "%s: out of memory for %zu tensor entries", path, members);
  }
  size_t dim_used = 0;
  for (vdit_json_value k = vdit_json_first(json, root); k != VDIT_JSON_NONE; k = vdit_json_next(json, k)) {
    size_t length;
    const char *name = vdit_json_string(json, k, &length);
    vdit_json_value value = vdit_json_member_value(json, k);
    if (strcmp(name, "__metadata__") == 0 && length == 12) {
      VDIT_TRY(read_metadata(file, value));
      continue;
    }
    if (strlen(name) != length) return corrupt(path, name, "name contains a NUL character, which vdit does not accept");
    VDIT_TRY(read_entry(file, name, value, &file->entries[file->count], &dim_used));
    file->count++;
  }
  VDIT_TRY(check_tiling(file));
  VDIT_TRY(index_names(file));
  for (size_t i = 0; i < file->count; i++)
    file->entries[i].data = file->entries[i].bytes ? file->data + file->entries[i].offset : NULL;
  return VDIT_OK;
}

// ---------------------------------------------------------------- open and close
vdit_status vdit_safetensors_open(const char *path, vdit_safetensors **file_out) {
  if (!file_out) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_safetensors_open: file is NULL");
  *file_out = NULL;
  if (!path) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_safetensors_open: path is NULL");
  vdit_safetensors *file = calloc(1, sizeof *file);
  char *path_copy = malloc(strlen(path) + 1);
  if (!file || !path_copy) {
    free(file);
    free(path_copy);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory opening %s", path);
  }
  memcpy(path_copy, path, strlen(path) + 1);
  file->path = path_copy;

  vdit_status status = VDIT_OK;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat info;
  if (fd < 0) {
    status = VDIT_ERROR(VDIT_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
  } else if (fstat(fd, &info) != 0) {
    status = VDIT_ERROR(VDIT_ERROR_IO, "cannot stat %s: %s", path, strerror(errno));
  } else if (!S_ISREG(info.st_mode)) {
    status = VDIT_ERROR(VDIT_ERROR_IO, "%s is not a regular file", path);
  } else if ((uint64_t)info.st_size < 8) {
    status = corrupt(path, NULL, "file of %lld bytes is too short for the 8-byte header length", (long long)info.st_size);
  } else if ((uint64_t)info.st_size > (uint64_t)SIZE_MAX) {
    status = VDIT_ERROR(VDIT_ERROR_IO, "%s is too large to map", path);
  } else {
    file->map_bytes = (size_t)info.st_size;
    void *map = mmap(NULL, file->map_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) status = VDIT_ERROR(VDIT_ERROR_IO, "cannot map %s: %s", path, strerror(errno));
    else file->map = map;
  }
  if (fd >= 0) close(fd); // the map keeps the file

  if (status == VDIT_OK) {
    uint64_t file_bytes = file->map_bytes;
    uint64_t n = read_le64(file->map);
    if (n > file_bytes - 8)
      status = corrupt(path, NULL, "header length %" PRIu64 " runs past the end of the %" PRIu64 "-byte file%s", n,
                       file_bytes, n > VDIT_SAFETENSORS_MAX_HEADER_BYTES ? " (not a safetensors file?)" : " (truncated?)");
    else if (n > VDIT_SAFETENSORS_MAX_HEADER_BYTES)
      status = corrupt(path, NULL, "header length %" PRIu64 " exceeds the %d-byte limit", n,
                       VDIT_SAFETENSORS_MAX_HEADER_BYTES);
    else {
      file->header_bytes = n;
      file->data = (const unsigned char *)file->map + 8 + n;
      file->data_bytes = file_bytes - 8 - n;
      status = read_header(file);
    }
  }
  if (status != VDIT_OK) {
    vdit_safetensors_close(file);
    return status;
  }
  *file_out = file;
  return VDIT_OK;
}

void vdit_safetensors_close(vdit_safetensors *file) {
  if (!file) return;
  if (file->map) munmap(file->map, file->map_bytes);
  vdit_json_free(file->header);
  free(file->entries);
  free(file->by_name);
  free(file->dims);
  free(file->metadata);
  free(file->path);
  free(file);
}

// ---------------------------------------------------------------- queries
size_t vdit_safetensors_count(const vdit_safetensors *file) { return file ? file->count : 0; }

vdit_status vdit_safetensors_entry(const vdit_safetensors *file, size_t index, vdit_safetensors_info *info) {
  if (!file || !info) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_safetensors_entry: NULL argument");
  if (index >= file->count)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: tensor index %zu out of range (%zu tensors)", file->path,
                      index, file->count);
  *info = file->entries[index];
  return VDIT_OK;
}

vdit_status vdit_safetensors_find(const vdit_safetensors *file, const char *name, size_t *index) {
  if (!file || !name || !index) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_safetensors_find: NULL argument");
  size_t low = 0, high = file->count;
  while (low < high) {
    size_t middle = low + (high - low) / 2;
    int c = strcmp(file->entries[file->by_name[middle]].name, name);
    if (c == 0) {
      *index = file->by_name[middle];
      return VDIT_OK;
    }
    if (c < 0) low = middle + 1;
    else high = middle;
  }
  char quoted[160];
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s has no tensor '%s' (it has %zu; see 'vdit inspect %s')",
                    file->path, safetensors_quote(name, strlen(name), 64, quoted, sizeof quoted), file->count,
                    file->path);
}

vdit_status vdit_safetensors_tensor_at(const vdit_safetensors *file, size_t index, vdit_tensor *view) {
  if (!view) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_safetensors_tensor: view is NULL");
  memset(view, 0, sizeof *view);
  vdit_safetensors_info info;
  memset(&info, 0, sizeof info);
  VDIT_TRY(vdit_safetensors_entry(file, index, &info));
  char quoted[160];
  safetensors_quote(info.name, strlen(info.name), 64, quoted, sizeof quoted);
  if (info.dtype == VDIT_DTYPE_COUNT)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which vdit has no type for", file->path,
                      quoted, info.dtype_name);
  if (info.ndim > VDIT_MAX_DIMS)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: tensor '%s' has %d dims; vdit tensors have at most %d", file->path,
                      quoted, info.ndim, VDIT_MAX_DIMS);
  int element_bytes = vdit_dtype_element_bytes(info.dtype);
  size_t alignment = element_bytes > 0 ? (size_t)element_bytes : 1; // f4: bytes
  if (info.data && (uintptr_t)info.data % alignment != 0)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                      "%s: tensor '%s' (%s) starts at file byte %" PRIu64 ", not aligned to %zu bytes "
                      "(rewrite the file with a current safetensors writer)",
                      file->path, quoted, info.dtype_name, info.file_offset, alignment);
  // Contiguous strides skip zero dims (as vdit_tensor_alloc does) and must fit in int64.
  int64_t stride[VDIT_MAX_DIMS];
  int64_t step = 1;
  for (int i = info.ndim - 1; i >= 0; i--) {
    stride[i] = step;
    if (info.shape[i] > 0) {
      if (step > INT64_MAX / info.shape[i])
        return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: tensor '%s': the strides of its shape overflow int64",
                          file->path, quoted);
      step *= info.shape[i];
    }
  }
  view->data = info.element_count ? (void *)(uintptr_t)info.data : NULL; // read-only memory, see tensor.h
  view->dtype = info.dtype;
  view->device = VDIT_CPU;
  view->ndim = info.ndim;
  for (int i = 0; i < info.ndim; i++) {
    view->shape[i] = info.shape[i];
    view->stride[i] = stride[i];
  }
  view->allocation = NULL;
  return VDIT_OK;
}

vdit_status vdit_safetensors_tensor(const vdit_safetensors *file, const char *name, vdit_tensor *view) {
  if (view) memset(view, 0, sizeof *view);
  size_t index;
  VDIT_TRY(vdit_safetensors_find(file, name, &index));
  return vdit_safetensors_tensor_at(file, index, view);
}

size_t vdit_safetensors_metadata_count(const vdit_safetensors *file) { return file ? file->metadata_count : 0; }

vdit_status vdit_safetensors_metadata_entry(const vdit_safetensors *file, size_t index, const char **key,
                                            const char **value) {
  if (!file) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_safetensors_metadata_entry: file is NULL");
  if (index >= file->metadata_count)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: metadata index %zu out of range (%zu entries)", file->path,
                      index, file->metadata_count);
  if (key) *key = file->metadata[index].key;
  if (value) *value = file->metadata[index].value;
  return VDIT_OK;
}

const char *vdit_safetensors_metadata_get(const vdit_safetensors *file, const char *key) {
  if (!file || !key) return NULL;
  for (size_t i = 0; i < file->metadata_count; i++)
    if (strcmp(file->metadata[i].key, key) == 0) return file->metadata[i].value;
  return NULL;
}

const char *vdit_safetensors_path(const vdit_safetensors *file) { return file ? file->path : ""; }

uint64_t vdit_safetensors_file_bytes(const vdit_safetensors *file) { return file ? file->map_bytes : 0; }

uint64_t vdit_safetensors_header_bytes(const vdit_safetensors *file) { return file ? file->header_bytes : 0; }
