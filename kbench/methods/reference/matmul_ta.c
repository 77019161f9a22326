// CPU version: the same code as matmul_ta.cu, compiled as C.
#include "matmul_ta.cu"
