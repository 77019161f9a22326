// CPU version: the same code as cast_bf16.cu, compiled as C.
#include "cast_bf16.cu"
