// CPU version: the same code as w4a16_linear.cu, compiled as C.
#include "w4a16_linear.cu"
