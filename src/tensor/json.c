// Strict JSON parser (an explicit-stack state machine over a flat node array) and writer.
#include "tensor/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JSON_DEFAULT_DEPTH = 64, JSON_MAX_DEPTH = 1024 };
#define JSON_DEFAULT_VALUES ((size_t)1 << 24)
// Offsets, pool positions and node indices are 32-bit; VDIT_JSON_NONE is reserved.
#define JSON_MAX_LENGTH ((size_t)UINT32_MAX - 1)
#define JSON_KEY_FLAG 0x100u

// One value. Containers: a = number of elements (members), b = first child (first key).
// Strings and numbers: a = position of the text in the pool, b = its length.
typedef struct json_node {
  uint32_t type_flags; // vdit_json_type in the low byte; JSON_KEY_FLAG for an object key
  uint32_t offset;     // where the value begins in the input
  uint32_t next;       // the next element (or key) of the parent container
  uint32_t a, b;
} json_node;

struct vdit_json {
  json_node *nodes;
  uint32_t node_count;
  char *pool; // decoded strings and number texts, each NUL-terminated
};

// ---------------------------------------------------------------- parser state
typedef struct json_frame {
  uint32_t node; // the open container
  uint32_t last; // its last child (last key for objects), VDIT_JSON_NONE before the first
} json_frame;

typedef struct json_key_ref { // for the duplicate-key check
  const char *text;
  uint32_t length;
  uint32_t offset;
} json_key_ref;

typedef struct json_parser {
  const unsigned char *text;
  size_t length;
  size_t pos;
  size_t max_values;
  int max_depth;
  json_node *nodes;
  size_t node_count, node_capacity;
  char *pool;
  size_t pool_length, pool_capacity;
  json_frame *stack;
  int depth;
  json_key_ref *keys; // scratch for the duplicate-key check
  size_t key_capacity;
  // failure
  vdit_status status;
  size_t error_offset;
  char message[160];
} json_parser;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int json_fail(json_parser *p, size_t offset, const char *format, ...) {
  if (p->status != VDIT_OK) return 0; // keep the first failure
  va_list args;
  va_start(args, format);
  vsnprintf(p->message, sizeof p->message, format, args);
  va_end(args);
  p->status = VDIT_ERROR_CORRUPT_FILE;
  p->error_offset = offset;
  return 0;
}

static int json_fail_memory(json_parser *p, const char *what) {
  if (p->status != VDIT_OK) return 0;
  snprintf(p->message, sizeof p->message, "out of memory for %s", what);
  p->status = VDIT_ERROR_OUT_OF_MEMORY;
  p->error_offset = p->pos;
  return 0;
}

// Describes the byte at `pos` for a message: 'x', byte 0x80, or end of input.
static void describe_byte(const json_parser *p, size_t pos, char *out, size_t size) {
  if (pos >= p->length) snprintf(out, size, "end of input");
  else if (p->text[pos] >= 0x21 && p->text[pos] < 0x7f) snprintf(out, size, "'%c'", p->text[pos]);
  else snprintf(out, size, "byte 0x%02x", p->text[pos]);
}

static int grow(void **array, size_t *capacity, size_t needed, size_t element_size, size_t limit) {
  if (needed <= *capacity) return 1;
  size_t next = *capacity ? *capacity : 64;
  while (next < needed) {
    if (next > limit / 2) {
      next = limit;
      break;
    }
    next *= 2;
  }
  if (next < needed) return 0;
  size_t bytes;
  if (!vdit_size_mul(next, element_size, &bytes)) return 0;
  void *grown = realloc(*array, bytes);
  if (!grown) return 0;
  *array = grown;
  *capacity = next;
  return 1;
}

static int pool_reserve(json_parser *p, size_t extra) {
  size_t needed;
  if (!vdit_size_add(p->pool_length, extra, &needed) || needed > JSON_MAX_LENGTH)
    return json_fail(p, p->pos, "decoded strings exceed 4 GiB");
  if (!grow((void **)&p->pool, &p->pool_capacity, needed, 1, JSON_MAX_LENGTH + 1))
    return json_fail_memory(p, "JSON strings");
  return 1;
}

// Adds a node and links it into the open container (unless it is the value of a member,
// which always sits right after its key). Returns its index, or VDIT_JSON_NONE on failure.
static uint32_t add_node(json_parser *p, vdit_json_type type, size_t offset, int is_member_value, int is_key) {
  if (p->node_count >= p->max_values) {
    json_fail(p, offset, "more than %zu values", p->max_values);
    return VDIT_JSON_NONE;
  }
  if (!grow((void **)&p->nodes, &p->node_capacity, p->node_count + 1, sizeof(json_node), p->max_values)) {
    json_fail_memory(p, "JSON values");
    return VDIT_JSON_NONE;
  }
  uint32_t index = (uint32_t)p->node_count++;
  json_node *node = &p->nodes[index];
  node->type_flags = (uint32_t)type | (is_key ? JSON_KEY_FLAG : 0u);
  node->offset = (uint32_t)offset;
  node->next = VDIT_JSON_NONE;
  node->a = 0;
  node->b = (type == VDIT_JSON_ARRAY || type == VDIT_JSON_OBJECT) ? VDIT_JSON_NONE : 0;
  if (p->depth > 0 && !is_member_value) {
    json_frame *frame = &p->stack[p->depth - 1];
    json_node *parent = &p->nodes[frame->node];
    if (frame->last == VDIT_JSON_NONE) parent->b = index;
    else p->nodes[frame->last].next = index;
    frame->last = index;
    parent->a++;
  }
  return index;
}

static void skip_whitespace(json_parser *p) {
  while (p->pos < p->length) {
    unsigned char c = p->text[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->pos++;
  }
}

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads the four hex digits after "\u" at p->pos (which points at 'u').
static int read_hex4(json_parser *p, uint32_t *code) {
  size_t start = p->pos - 1; // the backslash
  if (p->length - p->pos < 5) return json_fail(p, start, "truncated \\u escape in string");
  uint32_t value = 0;
  for (int i = 1; i <= 4; i++) {
    int digit = hex_value(p->text[p->pos + (size_t)i]);
    if (digit < 0) return json_fail(p, start, "\\u escape needs four hex digits");
    value = value * 16 + (uint32_t)digit;
  }
  p->pos += 5;
  *code = value;
  return 1;
}

static size_t utf8_encode(uint32_t code, char out[4]) {
  if (code < 0x80) {
    out[0] = (char)code;
    return 1;
  }
  if (code < 0x800) {
    out[0] = (char)(0xc0 | (code >> 6));
    out[1] = (char)(0x80 | (code & 0x3f));
    return 2;
  }
  if (code < 0x10000) {
    out[0] = (char)(0xe0 | (code >> 12));
    out[1] = (char)(0x80 | ((code >> 6) & 0x3f));
    out[2] = (char)(0x80 | (code & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | (code >> 18));
  out[1] = (char)(0x80 | ((code >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((code >> 6) & 0x3f));
  out[3] = (char)(0x80 | (code & 0x3f));
  return 4;
}

// Length of the well-formed UTF-8 sequence at bytes[0..available), or 0 if it is not one.
// Rejects overlong forms, surrogates (U+D800..U+DFFF) and code points above U+10FFFF.
static size_t utf8_sequence_length(const unsigned char *bytes, size_t available) {
  unsigned char c = bytes[0];
  if (c < 0x80) return 1;
  size_t length;
  unsigned char low = 0x80, high = 0xbf; // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) length = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    length = 3;
    if (c == 0xe0) low = 0xa0;      // overlong
    else if (c == 0xed) high = 0x9f; // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    length = 4;
    if (c == 0xf0) low = 0x90;      // overlong
    else if (c == 0xf4) high = 0x8f; // above U+10FFFF
  } else return 0;
  if (available < length) return 0;
  if (bytes[1] < low || bytes[1] > high) return 0;
  for (size_t i = 2; i < length; i++)
    if (bytes[i] < 0x80 || bytes[i] > 0xbf) return 0;
  return length;
}

int vdit_json_utf8_valid(const char *bytes, size_t length) {
  const unsigned char *u = (const unsigned char *)bytes;
  size_t i = 0;
  while (i < length) {
    size_t n = utf8_sequence_length(u + i, length - i);
    if (n == 0) return 0;
    i += n;
  }
  return 1;
}

// Parses the string starting at the '"' at p->pos into the pool; *pool_start and
// *decoded_length tell where it went.
static int parse_string(json_parser *p, uint32_t *pool_start, uint32_t *decoded_length) {
  size_t start = p->pos;
  p->pos++; // opening quote
  // The decoded text is never longer than the remaining input, plus the NUL.
  if (!pool_reserve(p, p->length - p->pos + 1)) return 0;
  size_t out = p->pool_length;
  for (;;) {
    if (p->pos >= p->length) return json_fail(p, start, "unterminated string");
    unsigned char c = p->text[p->pos];
    if (c == '"') {
      p->pos++;
      break;
    }
    if (c < 0x20) return json_fail(p, p->pos, "control character 0x%02x inside a string (escape it)", c);
    if (c == '\\') {
      if (p->pos + 1 >= p->length) return json_fail(p, start, "unterminated string");
      unsigned char e = p->text[p->pos + 1];
      char replacement = 0;
      switch (e) {
        case '"': replacement = '"'; break;
        case '\\': replacement = '\\'; break;
        case '/': replacement = '/'; break;
        case 'b': replacement = '\b'; break;
        case 'f': replacement = '\f'; break;
        case 'n': replacement = '\n'; break;
        case 'r': replacement = '\r'; break;
        case 't': replacement = '\t'; break;
        case 'u': break;
        default: {
          char what[32];
          describe_byte(p, p->pos + 1, what, sizeof what);
          return json_fail(p, p->pos, "invalid escape '\\' followed by %s in string", what);
        }
      }
      if (e != 'u') {
        p->pool[out++] = replacement;
        p->pos += 2;
        continue;
      }
      size_t escape_start = p->pos;
      p->pos++; // now at 'u'
      uint32_t code;
      if (!read_hex4(p, &code)) return 0;
      if (code >= 0xdc00 && code <= 0xdfff)
        return json_fail(p, escape_start, "lone low surrogate \\u%04X in string", (unsigned)code);
      if (code >= 0xd800 && code <= 0xdbff) {
        if (p->length - p->pos < 2 || p->text[p->pos] != '\\' || p->text[p->pos + 1] != 'u')
          return json_fail(p, escape_start, "high surrogate \\u%04X not followed by a low surrogate",
                           (unsigned)code);
        p->pos++; // at 'u'
        uint32_t low;
        if (!read_hex4(p, &low)) return 0;
        if (low < 0xdc00 || low > 0xdfff)
          return json_fail(p, escape_start, "high surrogate \\u%04X followed by \\u%04X, not a low surrogate",
                           (unsigned)code, (unsigned)low);
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
      }
      char encoded[4];
      size_t n = utf8_encode(code, encoded);
      memcpy(p->pool + out, encoded, n);
      out += n;
      continue;
    }
    size_t n = utf8_sequence_length(p->text + p->pos, p->length - p->pos);
    if (n == 0) return json_fail(p, p->pos, "invalid UTF-8 byte 0x%02x in string", c);
    memcpy(p->pool + out, p->text + p->pos, n);
    out += n;
    p->pos += n;
  }
  p->pool[out] = '\0';
  *pool_start = (uint32_t)p->pool_length;
  *decoded_length = (uint32_t)(out - p->pool_length);
  p->pool_length = out + 1;
  return 1;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// Checks the number grammar at p->pos and copies its text into the pool.
static int parse_number(json_parser *p, uint32_t *pool_start, uint32_t *text_length) {
  size_t start = p->pos, i = p->pos;
  const unsigned char *t = p->text;
  if (i < p->length && t[i] == '-') i++;
  if (i >= p->length || !is_digit(t[i])) return json_fail(p, start, "'-' must be followed by a digit");
  if (t[i] == '0') {
    i++;
    if (i < p->length && is_digit(t[i])) return json_fail(p, start, "numbers may not have leading zeros");
  } else {
    while (i < p->length && is_digit(t[i])) i++;
  }
  if (i < p->length && t[i] == '.') {
    i++;
    if (i >= p->length || !is_digit(t[i])) return json_fail(p, start, "a digit must follow the decimal point");
    while (i < p->length && is_digit(t[i])) i++;
  }
  if (i < p->length && (t[i] == 'e' || t[i] == 'E')) {
    i++;
    if (i < p->length && (t[i] == '+' || t[i] == '-')) i++;
    if (i >= p->length || !is_digit(t[i])) return json_fail(p, start, "a digit must follow the exponent");
    while (i < p->length && is_digit(t[i])) i++;
  }
  size_t length = i - start;
  if (!pool_reserve(p, length + 1)) return 0;
  memcpy(p->pool + p->pool_length, t + start, length);
  p->pool[p->pool_length + length] = '\0';
  *pool_start = (uint32_t)p->pool_length;
  *text_length = (uint32_t)length;
  p->pool_length += length + 1;
  p->pos = i;
  return 1;
}

static int compare_keys(const void *a, const void *b) {
  const json_key_ref *x = a, *y = b;
  uint32_t n = x->length < y->length ? x->length : y->length;
  int c = memcmp(x->text, y->text, n);
  if (c) return c;
  if (x->length != y->length) return x->length < y->length ? -1 : 1;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

// Rejects an object with two members of the same key (sorting its keys: n log n).
static int check_duplicate_keys(json_parser *p, uint32_t object) {
  size_t count = p->nodes[object].a;
  if (count < 2) return 1;
  if (!grow((void **)&p->keys, &p->key_capacity, count, sizeof(json_key_ref), SIZE_MAX / sizeof(json_key_ref)))
    return json_fail_memory(p, "the duplicate-key check");
  size_t n = 0;
  for (uint32_t k = p->nodes[object].b; k != VDIT_JSON_NONE; k = p->nodes[k].next)
    p->keys[n++] = (json_key_ref){p->pool + p->nodes[k].a, p->nodes[k].b, p->nodes[k].offset};
  qsort(p->keys, n, sizeof *p->keys, compare_keys);
  for (size_t i = 1; i < n; i++) {
    const json_key_ref *x = &p->keys[i - 1], *y = &p->keys[i];
    if (x->length == y->length && memcmp(x->text, y->text, x->length) == 0) {
      int shown = (int)(y->length < 48 ? y->length : 48);
      char printable[49];
      for (int c = 0; c < shown; c++) {
        unsigned char ch = (unsigned char)y->text[c];
        printable[c] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
      }
      printable[shown] = '\0';
      return json_fail(p, y->offset, "duplicate key \"%s%s\" in object (first at byte %u)", printable,
                       y->length > 48 ? "..." : "", (unsigned)x->offset);
    }
  }
  return 1;
}

typedef enum json_state {
  STATE_VALUE,               // a value must come
  STATE_VALUE_OR_ARRAY_END,  // right after '['
  STATE_KEY,                 // after ',' in an object
  STATE_KEY_OR_OBJECT_END,   // right after '{'
  STATE_AFTER_VALUE          // a value just ended
} json_state;

static int parse_document(json_parser *p) {
  json_state state = STATE_VALUE;
  int member_value = 0; // the next value is an object member's value
  for (;;) {
    skip_whitespace(p);
    size_t here = p->pos;
    int at_end = here >= p->length;
    unsigned char c = at_end ? 0 : p->text[here];
    char what[32];
    switch (state) {
      case STATE_VALUE:
      case STATE_VALUE_OR_ARRAY_END: {
        if (state == STATE_VALUE_OR_ARRAY_END && c == ']' && !at_end) {
          p->pos++;
          p->depth--;
          state = STATE_AFTER_VALUE;
          break;
        }
        if (at_end) {
          if (p->node_count == 0) return json_fail(p, here, "empty input, expected a JSON value");
          return json_fail(p, here, "unexpected end of input, expected a value");
        }
        int is_member_value = member_value;
        member_value = 0;
        if (c == '{' || c == '[') {
          if (p->depth >= p->max_depth)
            return json_fail(p, here, "nesting deeper than %d levels", p->max_depth);
          uint32_t node = add_node(p, c == '{' ? VDIT_JSON_OBJECT : VDIT_JSON_ARRAY, here, is_member_value, 0);
          if (node == VDIT_JSON_NONE) return 0;
          p->stack[p->depth++] = (json_frame){node, VDIT_JSON_NONE};
          p->pos++;
          state = c == '{' ? STATE_KEY_OR_OBJECT_END : STATE_VALUE_OR_ARRAY_END;
          break;
        }
        vdit_json_type type;
        uint32_t a = 0, b = 0;
        if (c == '"') {
          if (!parse_string(p, &a, &b)) return 0;
          type = VDIT_JSON_STRING;
        } else if (c == '-' || is_digit(c)) {
          if (!parse_number(p, &a, &b)) return 0;
          type = VDIT_JSON_NUMBER;
        } else if (c == 't' || c == 'f' || c == 'n') {
          const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
          size_t n = strlen(word);
          if (p->length - here < n || memcmp(p->text + here, word, n) != 0)
            return json_fail(p, here, "invalid literal (expected '%s')", word);
          p->pos += n;
          type = c == 't' ? VDIT_JSON_TRUE : c == 'f' ? VDIT_JSON_FALSE : VDIT_JSON_NULL;
        } else {
          describe_byte(p, here, what, sizeof what);
          return json_fail(p, here, "unexpected %s, expected a value", what);
        }
        uint32_t node = add_node(p, type, here, is_member_value, 0);
        if (node == VDIT_JSON_NONE) return 0;
        p->nodes[node].a = a;
        p->nodes[node].b = b;
        state = STATE_AFTER_VALUE;
        break;
      }
      case STATE_KEY:
      case STATE_KEY_OR_OBJECT_END: {
        if (state == STATE_KEY_OR_OBJECT_END && c == '}' && !at_end) {
          p->pos++;
          p->depth--;
          state = STATE_AFTER_VALUE;
          break;
        }
        if (c != '"' || at_end) {
          describe_byte(p, here, what, sizeof what);
          return json_fail(p, here, "unexpected %s, expected a string key%s", what,
                           state == STATE_KEY_OR_OBJECT_END ? " or '}'" : "");
        }
        uint32_t a, b;
        if (!parse_string(p, &a, &b)) return 0;
        uint32_t node = add_node(p, VDIT_JSON_STRING, here, 0, 1);
        if (node == VDIT_JSON_NONE) return 0;
        p->nodes[node].a = a;
        p->nodes[node].b = b;
        skip_whitespace(p);
        if (p->pos >= p->length || p->text[p->pos] != ':') {
          describe_byte(p, p->pos, what, sizeof what);
          return json_fail(p, p->pos, "unexpected %s, expected ':' after an object key", what);
        }
        p->pos++;
        member_value = 1;
        state = STATE_VALUE;
        break;
      }
      case STATE_AFTER_VALUE: {
        if (p->depth == 0) {
          if (!at_end) {
            describe_byte(p, here, what, sizeof what);
            return json_fail(p, here, "unexpected %s after the JSON value", what);
          }
          return 1;
        }
        json_frame *frame = &p->stack[p->depth - 1];
        int is_object = (p->nodes[frame->node].type_flags & 0xffu) == VDIT_JSON_OBJECT;
        if (c == ',' && !at_end) {
          p->pos++;
          state = is_object ? STATE_KEY : STATE_VALUE;
        } else if (!at_end && c == (is_object ? '}' : ']')) {
          p->pos++;
          if (is_object && !check_duplicate_keys(p, frame->node)) return 0;
          p->depth--;
        } else {
          describe_byte(p, here, what, sizeof what);
          return json_fail(p, here, "unexpected %s, expected ',' or '%c' after %s", what, is_object ? '}' : ']',
                           is_object ? "an object member" : "an array element");
        }
        break;
      }
    }
  }
}

vdit_status vdit_json_parse(const char *text, size_t length, const vdit_json_options *options,
                            vdit_json **document, vdit_json_error *error) {
  if (error) {
    error->offset = 0;
    error->message[0] = '\0';
  }
  if (!document) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_json_parse: document is NULL");
  *document = NULL;
  if (!text && length) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_json_parse: text is NULL");
  json_parser p;
  memset(&p, 0, sizeof p);
  p.text = (const unsigned char *)text;
  p.length = length;
  p.max_depth = options && options->max_depth > 0 ? options->max_depth : JSON_DEFAULT_DEPTH;
  if (p.max_depth > JSON_MAX_DEPTH) p.max_depth = JSON_MAX_DEPTH;
  p.max_values = options && options->max_values > 0 ? options->max_values : JSON_DEFAULT_VALUES;
  if (p.max_values > UINT32_MAX - 1) p.max_values = UINT32_MAX - 1;
  p.status = VDIT_OK;

  if (length > JSON_MAX_LENGTH) json_fail(&p, 0, "JSON text of %zu bytes exceeds the 4 GiB limit", length);
  else if (!(p.stack = malloc(sizeof(json_frame) * (size_t)p.max_depth))) json_fail_memory(&p, "the JSON stack");
  else parse_document(&p);

  free(p.stack);
  free(p.keys);
  if (p.status != VDIT_OK) {
    free(p.nodes);
    free(p.pool);
    if (error) {
      error->offset = p.error_offset;
      snprintf(error->message, sizeof error->message, "%s", p.message);
    }
    return VDIT_ERROR(p.status, "%s at byte %zu", p.message, p.error_offset);
  }
  vdit_json *result = malloc(sizeof *result);
  if (!result) {
    free(p.nodes);
    free(p.pool);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory for a JSON document");
  }
  result->nodes = p.nodes;
  result->node_count = (uint32_t)p.node_count;
  result->pool = p.pool;
  *document = result;
  return VDIT_OK;
}

void vdit_json_free(vdit_json *document) {
  if (!document) return;
  free(document->nodes);
  free(document->pool);
  free(document);
}

// ---------------------------------------------------------------- navigation
static const json_node *node_at(const vdit_json *d, vdit_json_value v) {
  return (d && v < d->node_count) ? &d->nodes[v] : NULL;
}

static vdit_json_type node_type(const json_node *n) { return (vdit_json_type)(n->type_flags & 0xffu); }

vdit_json_value vdit_json_root(const vdit_json *document) {
  return document && document->node_count ? 0 : VDIT_JSON_NONE;
}

vdit_json_type vdit_json_type_of(const vdit_json *document, vdit_json_value value) {
  const json_node *n = node_at(document, value);
  return n ? node_type(n) : VDIT_JSON_NULL;
}

size_t vdit_json_offset(const vdit_json *document, vdit_json_value value) {
  const json_node *n = node_at(document, value);
  return n ? n->offset : 0;
}

size_t vdit_json_count(const vdit_json *document, vdit_json_value value) {
  const json_node *n = node_at(document, value);
  if (!n || (node_type(n) != VDIT_JSON_ARRAY && node_type(n) != VDIT_JSON_OBJECT)) return 0;
  return n->a;
}

vdit_json_value vdit_json_first(const vdit_json *document, vdit_json_value container) {
  const json_node *n = node_at(document, container);
  if (!n || (node_type(n) != VDIT_JSON_ARRAY && node_type(n) != VDIT_JSON_OBJECT)) return VDIT_JSON_NONE;
  return n->b;
}

vdit_json_value vdit_json_next(const vdit_json *document, vdit_json_value value) {
  const json_node *n = node_at(document, value);
  return n ? n->next : VDIT_JSON_NONE;
}

vdit_json_value vdit_json_member_value(const vdit_json *document, vdit_json_value key) {
  const json_node *n = node_at(document, key);
  if (!n || !(n->type_flags & JSON_KEY_FLAG)) return VDIT_JSON_NONE;
  return key + 1; // a member's value always follows its key
}

const char *vdit_json_string(const vdit_json *document, vdit_json_value value, size_t *length) {
  const json_node *n = node_at(document, value);
  if (length) *length = 0;
  if (!n || node_type(n) != VDIT_JSON_STRING) return NULL;
  if (length) *length = n->b;
  return document->pool + n->a;
}

const char *vdit_json_number_text(const vdit_json *document, vdit_json_value value) {
  const json_node *n = node_at(document, value);
  if (!n || node_type(n) != VDIT_JSON_NUMBER) return NULL;
  return document->pool + n->a;
}

vdit_json_value vdit_json_find(const vdit_json *document, vdit_json_value object, const char *name) {
  if (!name || vdit_json_type_of(document, object) != VDIT_JSON_OBJECT) return VDIT_JSON_NONE;
  size_t name_length = strlen(name);
  for (vdit_json_value k = vdit_json_first(document, object); k != VDIT_JSON_NONE; k = vdit_json_next(document, k)) {
    size_t length;
    const char *key = vdit_json_string(document, k, &length);
    if (length == name_length && memcmp(key, name, length) == 0) return vdit_json_member_value(document, k);
  }
  return VDIT_JSON_NONE;
}

const char *vdit_json_type_description(vdit_json_type type) {
  switch (type) {
    case VDIT_JSON_NULL: return "null";
    case VDIT_JSON_FALSE:
    case VDIT_JSON_TRUE: return "a boolean";
    case VDIT_JSON_NUMBER: return "a number";
    case VDIT_JSON_STRING: return "a string";
    case VDIT_JSON_ARRAY: return "an array";
    case VDIT_JSON_OBJECT: return "an object";
  }
  return "an unknown value";
}

// ---------------------------------------------------------------- typed reads
static vdit_status wrong_type(const vdit_json *d, vdit_json_value v, const char *expected) {
  if (!node_at(d, v)) return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "expected %s, got no value", expected);
  return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "expected %s, got %s at byte %zu", expected,
                    vdit_json_type_description(vdit_json_type_of(d, v)), vdit_json_offset(d, v));
}

// Parses an integer number's digits into a magnitude; *negative tells the sign.
static vdit_status integer_magnitude(const vdit_json *d, vdit_json_value v, uint64_t *magnitude, int *negative,
                                     uint64_t limit_positive, uint64_t limit_negative) {
  const char *text = vdit_json_number_text(d, v);
  if (!text) return wrong_type(d, v, "an integer");
  if (strpbrk(text, ".eE"))
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "expected an integer, got %.32s%s at byte %zu", text,
                      strlen(text) > 32 ? "..." : "", vdit_json_offset(d, v));
  *negative = text[0] == '-';
  if (*negative && limit_negative == 0 && strspn(text + 1, "0") != strlen(text + 1))
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "expected a non-negative integer, got %.32s%s at byte %zu", text,
                      strlen(text) > 32 ? "..." : "", vdit_json_offset(d, v));
  uint64_t limit = *negative ? limit_negative : limit_positive;
  uint64_t value = 0;
  for (const char *c = text + *negative; *c; c++) {
    uint64_t digit = (uint64_t)(*c - '0');
    if (digit > limit || value > (limit - digit) / 10)
      return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "integer %.32s%s at byte %zu is out of range", text,
                        strlen(text) > 32 ? "..." : "", vdit_json_offset(d, v));
    value = value * 10 + digit;
  }
  *magnitude = value;
  return VDIT_OK;
}

vdit_status vdit_json_get_int64(const vdit_json *document, vdit_json_value value, int64_t *out) {
  uint64_t magnitude = 0;
  int negative = 0;
  VDIT_TRY(integer_magnitude(document, value, &magnitude, &negative, (uint64_t)INT64_MAX,
                             (uint64_t)INT64_MAX + 1));
  if (!negative) *out = (int64_t)magnitude;
  else if (magnitude == (uint64_t)INT64_MAX + 1) *out = INT64_MIN;
  else *out = -(int64_t)magnitude;
  return VDIT_OK;
}

vdit_status vdit_json_get_uint64(const vdit_json *document, vdit_json_value value, uint64_t *out) {
  uint64_t magnitude = 0;
  int negative = 0;
  VDIT_TRY(integer_magnitude(document, value, &magnitude, &negative, UINT64_MAX, 0));
  *out = magnitude; // "-0" is the only negative text that passes, and it is 0
  return VDIT_OK;
}

vdit_status vdit_json_get_double(const vdit_json *document, vdit_json_value value, double *out) {
  const char *text = vdit_json_number_text(document, value);
  if (!text) return wrong_type(document, value, "a number");
  // The grammar was checked by the parser, so strtod (C locale) reads the whole text.
  errno = 0;
  double parsed = strtod(text, NULL);
  if (isinf(parsed))
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "number %.32s%s at byte %zu overflows a double", text,
                      strlen(text) > 32 ? "..." : "", vdit_json_offset(document, value));
  *out = parsed;
  return VDIT_OK;
}

vdit_status vdit_json_get_bool(const vdit_json *document, vdit_json_value value, int *out) {
  vdit_json_type type = vdit_json_type_of(document, value);
  if (!node_at(document, value) || (type != VDIT_JSON_TRUE && type != VDIT_JSON_FALSE))
    return wrong_type(document, value, "true or false");
  *out = type == VDIT_JSON_TRUE;
  return VDIT_OK;
}

// ---------------------------------------------------------------- writer
void vdit_json_writer_init(vdit_json_writer *writer) { memset(writer, 0, sizeof *writer); }

void vdit_json_append_raw(vdit_json_writer *writer, const char *text, size_t length) {
  if (writer->failed) return;
  size_t needed;
  if (!vdit_size_add(writer->length, length, &needed) || !vdit_size_add(needed, 1, &needed) ||
      !grow((void **)&writer->data, &writer->capacity, needed, 1, SIZE_MAX)) {
    writer->failed = 1;
    return;
  }
  if (length) memcpy(writer->data + writer->length, text, length);
  writer->length += length;
  writer->data[writer->length] = '\0';
}

void vdit_json_append_text(vdit_json_writer *writer, const char *text) {
  vdit_json_append_raw(writer, text, strlen(text));
}

void vdit_json_append_string(vdit_json_writer *writer, const char *text, size_t length) {
  vdit_json_append_raw(writer, "\"", 1);
  size_t run = 0; // bytes copied as they are, flushed in one append
  for (size_t i = 0; i < length; i++) {
    unsigned char c = (unsigned char)text[i];
    const char *escape = NULL;
    char unicode[8];
    if (c == '"') escape = "\\\"";
    else if (c == '\\') escape = "\\\\";
    else if (c == '\n') escape = "\\n";
    else if (c == '\r') escape = "\\r";
    else if (c == '\t') escape = "\\t";
    else if (c == '\b') escape = "\\b";
    else if (c == '\f') escape = "\\f";
    else if (c < 0x20) {
      snprintf(unicode, sizeof unicode, "\\u%04x", c);
      escape = unicode;
    }
    if (!escape) {
      run++;
      continue;
    }
    vdit_json_append_raw(writer, text + i - run, run);
    run = 0;
    vdit_json_append_text(writer, escape);
  }
  vdit_json_append_raw(writer, text + length - run, run);
  vdit_json_append_raw(writer, "\"", 1);
}

void vdit_json_append_uint64(vdit_json_writer *writer, uint64_t value) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%" PRIu64, value);
  vdit_json_append_raw(writer, digits, (size_t)n);
}

void vdit_json_append_int64(vdit_json_writer *writer, int64_t value) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%" PRId64, value);
  vdit_json_append_raw(writer, digits, (size_t)n);
}

vdit_status vdit_json_writer_finish(const vdit_json_writer *writer) {
  if (writer->failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory while writing JSON");
  return VDIT_OK;
}

void vdit_json_writer_free(vdit_json_writer *writer) {
  free(writer->data);
  memset(writer, 0, sizeof *writer);
}
