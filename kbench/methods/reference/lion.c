// CPU version: the same code as lion.cu, compiled as C.
#include "lion.cu"
