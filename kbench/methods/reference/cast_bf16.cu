// cast_bf16 (reference): f32 -> bf16 codes.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) { KB_OUT(kb_u16, 0)[i] = kb_bf16_from_float(KB_IN(float, 0)[i]); }
KB_ITEMS(a->n[0] * a->n[1])
