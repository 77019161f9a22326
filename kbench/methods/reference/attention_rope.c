// CPU version: the same code as attention_rope.cu, compiled as C.
#include "attention_rope.cu"
