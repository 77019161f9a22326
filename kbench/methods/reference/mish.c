// CPU version: the same code as mish.cu, compiled as C.
#include "mish.cu"
