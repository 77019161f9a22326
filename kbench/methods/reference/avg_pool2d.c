// CPU version: the same code as avg_pool2d.cu, compiled as C.
#include "avg_pool2d.cu"
