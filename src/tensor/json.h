// A strict JSON (RFC 8259) parser and a small writer, for safetensors headers and config
// files. Internal to vdit (not part of the public API).
//
// The parser reads the whole text into a flat document: every value is a node numbered in
// document order, the root is node 0, and a container links its children through `next`.
// Strings (decoded, UTF-8, NUL-terminated) and number texts live in the document's own
// pool, so the document does not refer to the input after parsing. Parsing uses an
// explicit stack, never recursion, so nesting depth is bounded by an option, not by the C
// stack. Every error names its byte offset in the input.
//
// Strictness: exactly one value, surrounded only by JSON whitespace; UTF-8 validated
// (no overlong forms, no surrogates, nothing above U+10FFFF); no control characters
// inside strings; escapes \" \\ \/ \b \f \n \r \t \uXXXX, with surrogate pairs combined
// and lone surrogates rejected; numbers follow the JSON grammar (no leading zeros, no
// leading '+', no NaN/Infinity); duplicate keys within one object are rejected.
#ifndef VDIT_TENSOR_JSON_H
#define VDIT_TENSOR_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/base.h"

typedef enum vdit_json_type {
  VDIT_JSON_NULL = 0,
  VDIT_JSON_FALSE,
  VDIT_JSON_TRUE,
  VDIT_JSON_NUMBER,
  VDIT_JSON_STRING,
  VDIT_JSON_ARRAY,
  VDIT_JSON_OBJECT
} vdit_json_type;

// A value: an index into a document's nodes. VDIT_JSON_NONE marks "no value" (the end of
// an iteration, a missing key).
typedef uint32_t vdit_json_value;
#define VDIT_JSON_NONE ((vdit_json_value)UINT32_MAX)

typedef struct vdit_json vdit_json; // a parsed document

// Limits; a zero field takes its default.
typedef struct vdit_json_options {
  int max_depth;     // nesting of arrays and objects; default 64, at most 1024
  size_t max_values; // nodes in the document; default 1 << 24
} vdit_json_options;

// Detail of a parse failure (also written, with the offset, to vdit_last_error()).
typedef struct vdit_json_error {
  size_t offset;     // byte offset in the input where the problem was found
  char message[160]; // "unterminated string", "expected ',' or '}' after an object member", ...
} vdit_json_error;

// Parses text[0..length) (need not be NUL-terminated; at most 4 GiB - 2 bytes). On success
// *document owns everything it refers to; free it with vdit_json_free. On failure returns
// VDIT_ERROR_CORRUPT_FILE (or VDIT_ERROR_OUT_OF_MEMORY, or VDIT_ERROR_INVALID_ARGUMENT for
// a null pointer), sets *document to NULL and, when `error` is not NULL, fills it.
// `options` may be NULL for the defaults.
vdit_status vdit_json_parse(const char *text, size_t length, const vdit_json_options *options,
                            vdit_json **document, vdit_json_error *error);
void vdit_json_free(vdit_json *document);

// Navigation. Every function accepts VDIT_JSON_NONE or an out-of-range value and then
// returns the neutral answer (VDIT_JSON_NULL type, 0, NULL, VDIT_JSON_NONE).
vdit_json_value vdit_json_root(const vdit_json *document);
vdit_json_type vdit_json_type_of(const vdit_json *document, vdit_json_value value);
// Byte offset in the input where the value (for a member: its key) begins.
size_t vdit_json_offset(const vdit_json *document, vdit_json_value value);
// Elements of an array or members of an object; 0 for anything else.
size_t vdit_json_count(const vdit_json *document, vdit_json_value value);
// Iteration: the first element of an array or the KEY of the first member of an object,
// then the next element or key, then VDIT_JSON_NONE.
//   for (vdit_json_value k = vdit_json_first(d, obj); k != VDIT_JSON_NONE; k = vdit_json_next(d, k))
//     use vdit_json_string(d, k, NULL) and vdit_json_member_value(d, k)
vdit_json_value vdit_json_first(const vdit_json *document, vdit_json_value container);
vdit_json_value vdit_json_next(const vdit_json *document, vdit_json_value value);
// The value of the member whose key is `key`.
vdit_json_value vdit_json_member_value(const vdit_json *document, vdit_json_value key);
// The value of member `name` of an object (linear search), or VDIT_JSON_NONE.
vdit_json_value vdit_json_find(const vdit_json *document, vdit_json_value object, const char *name);
// The decoded text of a string (NUL-terminated; it may also contain NULs from \u0000, so
// *length, when asked, is the true length). NULL if the value is not a string.
const char *vdit_json_string(const vdit_json *document, vdit_json_value value, size_t *length);
// The number's text as written ("-12.5e3"); NULL if the value is not a number.
const char *vdit_json_number_text(const vdit_json *document, vdit_json_value value);

// Typed reads. Each fails with VDIT_ERROR_CORRUPT_FILE and a message such as
// "expected an integer, got a string at byte 17" or "integer 184467440737095516160 at
// byte 9 is out of range" (callers add their own context before it).
// Integers must be written without fraction or exponent.
vdit_status vdit_json_get_int64(const vdit_json *document, vdit_json_value value, int64_t *out);
vdit_status vdit_json_get_uint64(const vdit_json *document, vdit_json_value value, uint64_t *out);
// Any number; fails when it overflows a double.
vdit_status vdit_json_get_double(const vdit_json *document, vdit_json_value value, double *out);
// true or false.
vdit_status vdit_json_get_bool(const vdit_json *document, vdit_json_value value, int *out);

// "null", "a number", "a string", "an object", ...
const char *vdit_json_type_description(vdit_json_type type);

// 1 if bytes[0..length) is well-formed UTF-8 (as the parser requires inside strings).
int vdit_json_utf8_valid(const char *bytes, size_t length);

// ---------------------------------------------------------------- writing
// A growing text buffer for writing JSON. Appends never fail individually: an allocation
// failure is remembered and reported by vdit_json_writer_finish.
typedef struct vdit_json_writer {
  char *data;      // NUL-terminated text so far (NULL before the first append)
  size_t length;
  size_t capacity;
  int failed;      // an allocation failed
} vdit_json_writer;

void vdit_json_writer_init(vdit_json_writer *writer);
void vdit_json_append_raw(vdit_json_writer *writer, const char *text, size_t length);
void vdit_json_append_text(vdit_json_writer *writer, const char *text); // raw, NUL-terminated
// A quoted, escaped string; `text` must be valid UTF-8 (check with vdit_json_utf8_valid).
void vdit_json_append_string(vdit_json_writer *writer, const char *text, size_t length);
void vdit_json_append_uint64(vdit_json_writer *writer, uint64_t value);
void vdit_json_append_int64(vdit_json_writer *writer, int64_t value);
// VDIT_OK, or VDIT_ERROR_OUT_OF_MEMORY when any append failed.
vdit_status vdit_json_writer_finish(const vdit_json_writer *writer);
void vdit_json_writer_free(vdit_json_writer *writer);

#endif // VDIT_TENSOR_JSON_H
