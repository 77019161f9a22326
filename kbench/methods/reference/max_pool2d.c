// CPU version: the same code as max_pool2d.cu, compiled as C.
#include "max_pool2d.cu"
