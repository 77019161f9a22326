// CPU version: the same code as philox_bits.cu, compiled as C.
#include "philox_bits.cu"
