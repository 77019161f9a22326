// The S = 4096 row of the `vdit attn check` grid (label slow: the fp64 reference dominates).
#define ATTN_CHECK_SEQS {4096}
#define ATTN_CHECK_NAME "test_attn_check_slow"
#include "test_attn_check.c"
