// CPU version: the same code as mul.cu, compiled as C.
#include "mul.cu"
