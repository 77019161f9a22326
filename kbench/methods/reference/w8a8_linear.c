// CPU version: the same code as w8a8_linear.cu, compiled as C.
#include "w8a8_linear.cu"
