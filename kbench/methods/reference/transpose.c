// CPU version: the same code as transpose.cu, compiled as C.
#include "transpose.cu"
