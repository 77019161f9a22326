// CPU version: the same code as gelu_erf.cu, compiled as C.
#include "gelu_erf.cu"
