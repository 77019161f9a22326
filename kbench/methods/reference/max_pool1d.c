// CPU version: the same code as max_pool1d.cu, compiled as C.
#include "max_pool1d.cu"
