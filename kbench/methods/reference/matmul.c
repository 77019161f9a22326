// CPU version: the same code as matmul.cu, compiled as C.
#include "matmul.cu"
