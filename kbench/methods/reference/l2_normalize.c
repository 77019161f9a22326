// CPU version: the same code as l2_normalize.cu, compiled as C.
#include "l2_normalize.cu"
