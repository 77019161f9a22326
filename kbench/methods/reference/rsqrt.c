// CPU version: the same code as rsqrt.cu, compiled as C.
#include "rsqrt.cu"
