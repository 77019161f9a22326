// CPU version: the same code as maximum.cu, compiled as C.
#include "maximum.cu"
