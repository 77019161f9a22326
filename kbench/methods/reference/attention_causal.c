// CPU version: the same code as attention_causal.cu, compiled as C.
#include "attention_causal.cu"
