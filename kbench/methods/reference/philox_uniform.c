// CPU version: the same code as philox_uniform.cu, compiled as C.
#include "philox_uniform.cu"
