// CPU version: the same code as sin.cu, compiled as C.
#include "sin.cu"
