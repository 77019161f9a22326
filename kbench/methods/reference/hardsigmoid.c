// CPU version: the same code as hardsigmoid.cu, compiled as C.
#include "hardsigmoid.cu"
