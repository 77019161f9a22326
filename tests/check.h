// The tests' check macros: on failure each prints file:line, the expression and both
// values, counts the failure and goes on, so one run shows every broken case.
// A test's main ends with `return check_finish("name");`.
#ifndef VDIT_TEST_CHECK_H
#define VDIT_TEST_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vdit/base.h"

// ctest's SKIP_RETURN_CODE (tests/CMakeLists.txt).
#define CHECK_SKIP_CODE 77

static int check_failure_count = 0;

#define CHECK_FAIL_(...)                                  \
  do {                                                    \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);       \
    fprintf(stderr, __VA_ARGS__);                         \
    fputc('\n', stderr);                                  \
    check_failure_count++;                                \
  } while (0)

#define CHECK(cond)                                          \
  do {                                                       \
    if (!(cond)) CHECK_FAIL_("CHECK(%s) failed", #cond);     \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                    \
  do {                                                                                        \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);                           \
    if (check_a_ != check_b_) CHECK_FAIL_("CHECK_EQ_INT(%s, %s): %lld != %lld", #a, #b, check_a_, check_b_); \
  } while (0)

#define CHECK_EQ_HEX(a, b)                                                                    \
  do {                                                                                        \
    unsigned long long check_a_ = (unsigned long long)(a), check_b_ = (unsigned long long)(b); \
    if (check_a_ != check_b_) CHECK_FAIL_("CHECK_EQ_HEX(%s, %s): 0x%llx != 0x%llx", #a, #b, check_a_, check_b_); \
  } while (0)

// Exact float equality by bits (so -0 != +0 and NaN == the same NaN).
#define CHECK_EQ_FLOAT_BITS(a, b)                                                             \
  do {                                                                                        \
    float check_a_ = (a), check_b_ = (b);                                                     \
    uint32_t check_ua_, check_ub_;                                                            \
    memcpy(&check_ua_, &check_a_, 4);                                                         \
    memcpy(&check_ub_, &check_b_, 4);                                                         \
    if (check_ua_ != check_ub_)                                                               \
      CHECK_FAIL_("CHECK_EQ_FLOAT_BITS(%s, %s): %.9g (0x%08x) != %.9g (0x%08x)", #a, #b,       \
                  (double)check_a_, (unsigned)check_ua_, (double)check_b_, (unsigned)check_ub_); \
  } while (0)

// |a - b| <= tolerance, and neither is NaN.
#define CHECK_NEAR(a, b, tolerance)                                                           \
  do {                                                                                        \
    double check_a_ = (double)(a), check_b_ = (double)(b), check_t_ = (double)(tolerance);    \
    if (!(fabs(check_a_ - check_b_) <= check_t_))                                             \
      CHECK_FAIL_("CHECK_NEAR(%s, %s, %s): %.9g vs %.9g (diff %.3g > %.3g)", #a, #b, #tolerance, \
                  check_a_, check_b_, fabs(check_a_ - check_b_), check_t_);                   \
  } while (0)

#define CHECK_STATUS(expr, expected)                                                         \
  do {                                                                                       \
    vdit_status check_s_ = (expr);                                                           \
    if (check_s_ != (expected))                                                              \
      CHECK_FAIL_("CHECK_STATUS(%s): got '%s' (%s), want '%s'", #expr,                       \
                  vdit_status_string(check_s_), vdit_last_error(), vdit_status_string(expected)); \
  } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, VDIT_OK)

static inline int check_finish(const char *test_name) {
  if (check_failure_count) {
    fprintf(stderr, "%s: %d check(s) failed\n", test_name, check_failure_count);
    return 1;
  }
  printf("%s: all checks passed\n", test_name);
  return 0;
}

// For GPU tests on a machine without one: says why and exits with ctest's skip code.
static inline int check_skip(const char *test_name, const char *reason) {
  printf("%s: skipped: %s\n", test_name, reason);
  return CHECK_SKIP_CODE;
}

#endif // VDIT_TEST_CHECK_H
