// CPU version: the same code as nvfp4_linear.cu, compiled as C.
#include "nvfp4_linear.cu"
