// CPU version: the same code as reciprocal.cu, compiled as C.
#include "reciprocal.cu"
