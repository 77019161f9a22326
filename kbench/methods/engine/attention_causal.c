// attention_causal (engine): vdit_attn_forward with the causal mask.
#define ATTN_MASK VDIT_ATTN_MASK_CAUSAL
#include "attention.c"
