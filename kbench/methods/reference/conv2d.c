// CPU version: the same code as conv2d.cu, compiled as C.
#include "conv2d.cu"
