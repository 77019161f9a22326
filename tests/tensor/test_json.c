// The strict JSON parser and writer (src/tensor/json.h): accepted documents and their
// navigation, every rejected form with its byte offset, limits, and writer round trips.
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor/json.h"

static vdit_json *parse_ok(const char *text) {
  vdit_json *doc = NULL;
  vdit_status s = vdit_json_parse(text, strlen(text), NULL, &doc, NULL);
  if (s != VDIT_OK) CHECK_FAIL_("parse of '%s' failed: %s", text, vdit_last_error());
  return doc;
}

// Checks that `text` is rejected at byte `offset` with a message containing `fragment`.
static void expect_error(const char *text, size_t length, size_t offset, const char *fragment) {
  vdit_json *doc = (vdit_json *)&doc; // must be set to NULL
  vdit_json_error error;
  vdit_status s = vdit_json_parse(text, length, NULL, &doc, &error);
  if (s != VDIT_ERROR_CORRUPT_FILE) {
    CHECK_FAIL_("'%.*s' (%zu bytes): status %s, want corrupt file", (int)(length < 60 ? length : 60), text, length,
                vdit_status_string(s));
    vdit_json_free(s == VDIT_OK ? doc : NULL);
    return;
  }
  CHECK(doc == NULL);
  if (error.offset != offset)
    CHECK_FAIL_("'%.*s': error offset %zu, want %zu (%s)", (int)(length < 60 ? length : 60), text, error.offset,
                offset, error.message);
  if (!strstr(error.message, fragment))
    CHECK_FAIL_("'%.*s': message '%s' lacks '%s'", (int)(length < 60 ? length : 60), text, error.message, fragment);
  char at[48];
  snprintf(at, sizeof at, "at byte %zu", offset);
  if (!strstr(vdit_last_error(), at)) CHECK_FAIL_("last error '%s' lacks '%s'", vdit_last_error(), at);
  if (strchr(vdit_last_error(), '\n')) CHECK_FAIL_("last error has a newline: '%s'", vdit_last_error());
}

#define EXPECT_ERROR(text, offset, fragment) expect_error((text), sizeof(text) - 1, (offset), (fragment))

static void test_values(void) {
  vdit_json *doc = parse_ok(" {\"a\": [1, -2.5e3, true, false, null, \"x\"], \"b\": {}, \"c\": [], \"\": 0}\r\n\t");
  if (!doc) return;
  vdit_json_value root = vdit_json_root(doc);
  CHECK_EQ_INT(vdit_json_type_of(doc, root), VDIT_JSON_OBJECT);
  CHECK_EQ_INT(vdit_json_count(doc, root), 4);
  CHECK_EQ_INT(vdit_json_offset(doc, root), 1);
  vdit_json_value a = vdit_json_find(doc, root, "a");
  CHECK_EQ_INT(vdit_json_type_of(doc, a), VDIT_JSON_ARRAY);
  CHECK_EQ_INT(vdit_json_count(doc, a), 6);
  static const vdit_json_type types[6] = {VDIT_JSON_NUMBER, VDIT_JSON_NUMBER, VDIT_JSON_TRUE,
                                          VDIT_JSON_FALSE, VDIT_JSON_NULL, VDIT_JSON_STRING};
  int i = 0;
  for (vdit_json_value v = vdit_json_first(doc, a); v != VDIT_JSON_NONE; v = vdit_json_next(doc, v), i++)
    if (i < 6) CHECK_EQ_INT(vdit_json_type_of(doc, v), types[i]);
  CHECK_EQ_INT(i, 6);
  vdit_json_value first = vdit_json_first(doc, a);
  int64_t integer = 0;
  CHECK_OK(vdit_json_get_int64(doc, first, &integer));
  CHECK_EQ_INT(integer, 1);
  double real = 0;
  CHECK_OK(vdit_json_get_double(doc, vdit_json_next(doc, first), &real));
  CHECK_EQ_FLOAT_BITS((float)real, -2500.0f);
  CHECK(strcmp(vdit_json_number_text(doc, vdit_json_next(doc, first)), "-2.5e3") == 0);
  CHECK_STATUS(vdit_json_get_int64(doc, vdit_json_next(doc, first), &integer), VDIT_ERROR_CORRUPT_FILE);
  int flag = -1;
  CHECK_OK(vdit_json_get_bool(doc, vdit_json_next(doc, vdit_json_next(doc, first)), &flag));
  CHECK_EQ_INT(flag, 1);
  CHECK_STATUS(vdit_json_get_bool(doc, first, &flag), VDIT_ERROR_CORRUPT_FILE);
  CHECK(strstr(vdit_last_error(), "got a number") != NULL);
  CHECK_EQ_INT(vdit_json_count(doc, vdit_json_find(doc, root, "b")), 0);
  CHECK_EQ_INT(vdit_json_first(doc, vdit_json_find(doc, root, "c")), VDIT_JSON_NONE);
  CHECK_EQ_INT(vdit_json_type_of(doc, vdit_json_find(doc, root, "")), VDIT_JSON_NUMBER);
  CHECK_EQ_INT(vdit_json_find(doc, root, "missing"), VDIT_JSON_NONE);
  // Iterating the object gives keys in order, each followed by its value.
  const char *expected_keys[4] = {"a", "b", "c", ""};
  i = 0;
  for (vdit_json_value k = vdit_json_first(doc, root); k != VDIT_JSON_NONE; k = vdit_json_next(doc, k), i++) {
    if (i < 4) CHECK(strcmp(vdit_json_string(doc, k, NULL), expected_keys[i]) == 0);
    CHECK(vdit_json_member_value(doc, k) != VDIT_JSON_NONE);
  }
  CHECK_EQ_INT(i, 4);
  // Navigation on wrong kinds and out-of-range values is neutral, never a crash.
  CHECK_EQ_INT(vdit_json_member_value(doc, a), VDIT_JSON_NONE); // not a key
  CHECK_EQ_INT(vdit_json_first(doc, first), VDIT_JSON_NONE);
  CHECK(vdit_json_string(doc, first, NULL) == NULL);
  CHECK(vdit_json_string(doc, 100000, NULL) == NULL);
  CHECK_EQ_INT(vdit_json_type_of(doc, VDIT_JSON_NONE), VDIT_JSON_NULL);
  CHECK_EQ_INT(vdit_json_next(doc, VDIT_JSON_NONE), VDIT_JSON_NONE);
  vdit_json_free(doc);

  // Scalars at the top level.
  const char *scalars[] = {"0", "-0", "\"\"", "true", "null", " 12 ", "1E+2", "0.5e-3"};
  for (size_t k = 0; k < sizeof scalars / sizeof scalars[0]; k++) vdit_json_free(parse_ok(scalars[k]));
}

static void test_strings(void) {
  // Escapes, \u with surrogate pairs, raw UTF-8.
  vdit_json *doc = parse_ok("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\", "
                            "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\", \"nul\\u0000in\"]");
  if (!doc) return;
  vdit_json_value v = vdit_json_first(doc, vdit_json_root(doc));
  size_t length;
  const char *s = vdit_json_string(doc, v, &length);
  CHECK(length == 12 && memcmp(s, "a\"b\\c/d\b\f\n\r\t", 12) == 0);
  v = vdit_json_next(doc, v);
  s = vdit_json_string(doc, v, &length);
  CHECK(length == 1 + 2 + 3 + 4 && memcmp(s, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", length) == 0);
  v = vdit_json_next(doc, v);
  s = vdit_json_string(doc, v, &length);
  CHECK(length == 9 && memcmp(s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9) == 0);
  v = vdit_json_next(doc, v);
  s = vdit_json_string(doc, v, &length);
  CHECK(length == 6 && memcmp(s, "nul\0in", 7) == 0); // NUL inside, NUL-terminated
  vdit_json_free(doc);

  CHECK(vdit_json_utf8_valid("plain \xc3\xa9 \xf4\x8f\xbf\xbf", 13));
  CHECK(!vdit_json_utf8_valid("\xc0\xaf", 2));         // overlong '/'
  CHECK(!vdit_json_utf8_valid("\xed\xa0\x80", 3));     // encoded surrogate
  CHECK(!vdit_json_utf8_valid("\xf4\x90\x80\x80", 4)); // above U+10FFFF
  CHECK(!vdit_json_utf8_valid("\xe2\x82", 2));         // truncated
  CHECK(!vdit_json_utf8_valid("\x80", 1));             // lone continuation
}

static void test_errors(void) {
  EXPECT_ERROR("", 0, "empty input");
  EXPECT_ERROR("   ", 3, "empty input");
  EXPECT_ERROR("{", 1, "expected a string key or '}'");
  EXPECT_ERROR("[1,", 3, "unexpected end of input");
  EXPECT_ERROR("[1 2]", 3, "expected ',' or ']'");
  EXPECT_ERROR("{\"a\" 1}", 5, "expected ':'");
  EXPECT_ERROR("{\"a\":1,}", 7, "expected a string key");
  EXPECT_ERROR("[1,]", 3, "expected a value");
  EXPECT_ERROR("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'");
  EXPECT_ERROR("{1:2}", 1, "expected a string key");
  EXPECT_ERROR("[1] x", 4, "after the JSON value");
  EXPECT_ERROR("{} {}", 3, "after the JSON value");
  EXPECT_ERROR("\"abc", 0, "unterminated string");
  EXPECT_ERROR("[\"abc\\", 1, "unterminated string");
  EXPECT_ERROR("\"a\\qb\"", 2, "invalid escape");
  EXPECT_ERROR("\"\\u12xy\"", 1, "four hex digits");
  EXPECT_ERROR("\"\\u12", 1, "truncated \\u escape");
  EXPECT_ERROR("\"\\ud800\"", 1, "not followed by a low surrogate");
  EXPECT_ERROR("\"\\ud800\\u0041\"", 1, "not a low surrogate");
  EXPECT_ERROR("\"\\udc00\"", 1, "lone low surrogate");
  EXPECT_ERROR("\"a\nb\"", 2, "control character");
  EXPECT_ERROR("\"a\xff\"", 2, "invalid UTF-8");
  EXPECT_ERROR("\"\xc0\xaf\"", 1, "invalid UTF-8");
  EXPECT_ERROR("\"\xed\xa0\x80\"", 1, "invalid UTF-8");
  EXPECT_ERROR("\"\xe2\x82\"", 1, "invalid UTF-8");
  EXPECT_ERROR("01", 0, "leading zeros");
  EXPECT_ERROR("-", 0, "followed by a digit");
  EXPECT_ERROR("+1", 0, "unexpected '+'");
  EXPECT_ERROR("1.", 0, "decimal point");
  EXPECT_ERROR(".5", 0, "unexpected '.'");
  EXPECT_ERROR("1e", 0, "exponent");
  EXPECT_ERROR("1e+", 0, "exponent");
  EXPECT_ERROR("NaN", 0, "unexpected 'N'");
  EXPECT_ERROR("tru", 0, "invalid literal");
  EXPECT_ERROR("nul", 0, "invalid literal");
  EXPECT_ERROR("[True]", 1, "unexpected 'T'");
  EXPECT_ERROR("{\"k\":1,\"k\":2}", 7, "duplicate key \"k\"");
  EXPECT_ERROR("{\"x\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"a\":10}}", 60,
               "duplicate key \"a\"");
  EXPECT_ERROR("[1]\0", 3, "byte 0x00");
  EXPECT_ERROR("\xef\xbb\xbf{}", 0, "byte 0xef"); // a byte-order mark is not JSON
  // Deep nesting stops at the depth limit, without recursion.
  size_t deep = 100000;
  char *brackets = malloc(deep);
  if (brackets) {
    memset(brackets, '[', deep);
    expect_error(brackets, deep, 64, "nesting deeper than 64");
    free(brackets);
  }
  // Values limit.
  vdit_json *doc = NULL;
  vdit_json_options options = {.max_depth = 4, .max_values = 3};
  CHECK_OK(vdit_json_parse("[1,2]", 5, &options, &doc, NULL));
  vdit_json_free(doc);
  CHECK_STATUS(vdit_json_parse("[1,2,3]", 7, &options, &doc, NULL), VDIT_ERROR_CORRUPT_FILE);
  CHECK(strstr(vdit_last_error(), "more than 3 values") != NULL);
  CHECK_STATUS(vdit_json_parse("[[[[[]]]]]", 10, &options, &doc, NULL), VDIT_ERROR_CORRUPT_FILE);
  CHECK_STATUS(vdit_json_parse(NULL, 1, NULL, &doc, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_json_parse("1", 1, NULL, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
}

static void test_integers(void) {
  vdit_json *doc = parse_ok("[9223372036854775807, -9223372036854775808, 9223372036854775808, "
                            "18446744073709551615, 18446744073709551616, -1, -0, 1e2, 1.0, "
                            "100000000000000000000000000000000000000000000, 1e400]");
  if (!doc) return;
  vdit_json_value v[11];
  v[0] = vdit_json_first(doc, vdit_json_root(doc));
  for (int i = 1; i < 11; i++) v[i] = vdit_json_next(doc, v[i - 1]);
  int64_t s = 0;
  uint64_t u = 0;
  double d = 0;
  CHECK_OK(vdit_json_get_int64(doc, v[0], &s));
  CHECK(s == INT64_MAX);
  CHECK_OK(vdit_json_get_int64(doc, v[1], &s));
  CHECK(s == INT64_MIN);
  CHECK_STATUS(vdit_json_get_int64(doc, v[2], &s), VDIT_ERROR_CORRUPT_FILE);
  CHECK(strstr(vdit_last_error(), "out of range") != NULL);
  CHECK_OK(vdit_json_get_uint64(doc, v[2], &u));
  CHECK(u == (uint64_t)INT64_MAX + 1);
  CHECK_OK(vdit_json_get_uint64(doc, v[3], &u));
  CHECK(u == UINT64_MAX);
  CHECK_STATUS(vdit_json_get_uint64(doc, v[4], &u), VDIT_ERROR_CORRUPT_FILE);
  CHECK_STATUS(vdit_json_get_uint64(doc, v[5], &u), VDIT_ERROR_CORRUPT_FILE);
  CHECK(strstr(vdit_last_error(), "non-negative") != NULL);
  CHECK_OK(vdit_json_get_int64(doc, v[5], &s));
  CHECK(s == -1);
  CHECK_OK(vdit_json_get_uint64(doc, v[6], &u));
  CHECK(u == 0);
  CHECK_STATUS(vdit_json_get_uint64(doc, v[7], &u), VDIT_ERROR_CORRUPT_FILE);
  CHECK(strstr(vdit_last_error(), "expected an integer, got 1e2") != NULL);
  CHECK_STATUS(vdit_json_get_int64(doc, v[8], &s), VDIT_ERROR_CORRUPT_FILE);
  CHECK_STATUS(vdit_json_get_int64(doc, v[9], &s), VDIT_ERROR_CORRUPT_FILE);
  CHECK_OK(vdit_json_get_double(doc, v[9], &d));
  CHECK_NEAR(d, 1e44, 1e29);
  CHECK_STATUS(vdit_json_get_double(doc, v[10], &d), VDIT_ERROR_CORRUPT_FILE);
  CHECK(strstr(vdit_last_error(), "overflows a double") != NULL);
  vdit_json_free(doc);
}

static void test_writer(void) {
  vdit_json_writer w;
  vdit_json_writer_init(&w);
  const char tricky[] = "q\"b\\s/\n\r\t\b\f\x01\x1f \xc3\xa9\xf0\x9f\x98\x80";
  vdit_json_append_text(&w, "{");
  vdit_json_append_string(&w, tricky, sizeof tricky - 1);
  vdit_json_append_text(&w, ":[");
  vdit_json_append_int64(&w, INT64_MIN);
  vdit_json_append_text(&w, ",");
  vdit_json_append_uint64(&w, UINT64_MAX);
  vdit_json_append_text(&w, "]}");
  CHECK_OK(vdit_json_writer_finish(&w));
  CHECK_EQ_INT(strlen(w.data), w.length);
  vdit_json *doc = NULL;
  CHECK_OK(vdit_json_parse(w.data, w.length, NULL, &doc, NULL));
  if (doc) {
    vdit_json_value k = vdit_json_first(doc, vdit_json_root(doc));
    size_t length;
    const char *key = vdit_json_string(doc, k, &length);
    CHECK(length == sizeof tricky - 1 && memcmp(key, tricky, length) == 0);
    vdit_json_value first = vdit_json_first(doc, vdit_json_member_value(doc, k));
    int64_t s = 0;
    uint64_t u = 0;
    CHECK_OK(vdit_json_get_int64(doc, first, &s));
    CHECK(s == INT64_MIN);
    CHECK_OK(vdit_json_get_uint64(doc, vdit_json_next(doc, first), &u));
    CHECK(u == UINT64_MAX);
    vdit_json_free(doc);
  }
  vdit_json_writer_free(&w);
  CHECK(w.data == NULL && w.length == 0);
}

// Visits every value below `v` (recursion is fine: depth is at most the parser's limit).
static void walk(const vdit_json *doc, vdit_json_value v, size_t length) {
  CHECK(vdit_json_offset(doc, v) < length);
  vdit_json_type type = vdit_json_type_of(doc, v);
  if (type == VDIT_JSON_STRING) {
    size_t n;
    const char *text = vdit_json_string(doc, v, &n);
    CHECK(text != NULL && text[n] == '\0' && vdit_json_utf8_valid(text, n));
  }
  if (type == VDIT_JSON_NUMBER) CHECK(vdit_json_number_text(doc, v) != NULL);
  size_t children = 0;
  for (vdit_json_value c = vdit_json_first(doc, v); c != VDIT_JSON_NONE; c = vdit_json_next(doc, c), children++) {
    walk(doc, c, length);
    if (type == VDIT_JSON_OBJECT) walk(doc, vdit_json_member_value(doc, c), length);
  }
  CHECK_EQ_INT(children, vdit_json_count(doc, v));
}

// Parses a copy of text[0..length) in a heap block of exactly that size, so that ASan sees
// any read past the end. Returns 1 if accepted; a rejection must carry a message.
static int parse_exact(const char *text, size_t length) {
  char *copy = malloc(length ? length : 1);
  if (!copy) return 0;
  memcpy(copy, text, length);
  vdit_json *doc = NULL;
  vdit_json_error error;
  vdit_status s = vdit_json_parse(copy, length, NULL, &doc, &error);
  free(copy);
  if (s == VDIT_OK) {
    walk(doc, vdit_json_root(doc), length);
    vdit_json_free(doc);
    return 1;
  }
  CHECK_EQ_INT(s, VDIT_ERROR_CORRUPT_FILE);
  CHECK(error.message[0] != '\0');
  CHECK(error.offset <= length);
  return 0;
}

// Random bytes and random JSON-ish token soup: parse must return OK or a corrupt-file error
// with a message, never crash (ASan/UBSan watch this in CI).
static void test_random_inputs(void) {
  static const char alphabet[] = "{}[],:\"\\u0123456789abcdefEe+-.truefalsenull \t\n\xc3\xa9\xed\xa0\x80\xff";
  enum { TRIALS = 3000, MAX_LENGTH = 64 };
  uint32_t random[MAX_LENGTH + 1];
  char text[MAX_LENGTH];
  int accepted = 0;
  for (int trial = 0; trial < TRIALS; trial++) {
    vdit_rng_u32(20240611, (uint64_t)trial * (MAX_LENGTH + 1), MAX_LENGTH + 1, random);
    size_t length = random[0] % (MAX_LENGTH + 1);
    for (size_t i = 0; i < length; i++)
      text[i] = trial % 2 ? (char)(random[i + 1] & 0xff) : alphabet[random[i + 1] % (sizeof alphabet - 1)];
    accepted += parse_exact(text, length);
  }
  CHECK(accepted < TRIALS); // the soup is mostly invalid

  // Mutations of a safetensors header: 1-3 bytes changed, or cut short.
  static const char header[] =
      "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
      "\"b\\u00e9\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]}}";
  enum { MUTATIONS = 3000 };
  char mutant[sizeof header];
  accepted = 0;
  for (int trial = 0; trial < MUTATIONS; trial++) {
    uint32_t r[8];
    vdit_rng_u32(99, (uint64_t)trial * 8, 8, r);
    memcpy(mutant, header, sizeof header - 1);
    size_t length = sizeof header - 1;
    if (r[0] % 4 == 0) length = r[1] % length;
    else
      for (uint32_t c = 0; c <= r[0] % 3; c++) mutant[r[2 + c] % length] = (char)(r[5 + c] >> 4);
    accepted += parse_exact(mutant, length);
  }
  CHECK(accepted > 0 && accepted < MUTATIONS);
}

int main(void) {
  test_values();
  test_strings();
  test_errors();
  test_integers();
  test_writer();
  test_random_inputs();
  return check_finish("test_json");
}
