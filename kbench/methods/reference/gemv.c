// CPU version: the same code as gemv.cu, compiled as C.
#include "gemv.cu"
