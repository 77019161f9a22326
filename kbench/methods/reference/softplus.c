// CPU version: the same code as softplus.cu, compiled as C.
#include "softplus.cu"
