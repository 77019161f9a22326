// CPU version: the same code as gelu_ffn.cu, compiled as C.
#include "gelu_ffn.cu"
