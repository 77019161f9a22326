// CPU version: the same code as cumsum.cu, compiled as C.
#include "cumsum.cu"
