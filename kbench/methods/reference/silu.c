// CPU version: the same code as silu.cu, compiled as C.
#include "silu.cu"
