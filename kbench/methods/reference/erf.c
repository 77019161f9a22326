// CPU version: the same code as erf.cu, compiled as C.
#include "erf.cu"
