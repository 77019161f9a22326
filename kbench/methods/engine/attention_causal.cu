// attention_causal (engine, CUDA): attention.cu with the bottom-right causal mask.
#define KB_CAUSAL 1
#include "attention.cu"
