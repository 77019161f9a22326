// cast_fp8_e4m3 (reference): f32 -> e4m3 codes (satfinite).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) { KB_OUT(kb_u8, 0)[i] = kb_e4m3_from_float(KB_IN(float, 0)[i]); }
KB_ITEMS(a->n[0] * a->n[1])
