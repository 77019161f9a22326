// CPU version: the same code as attention.cu, compiled as C.
#include "attention.cu"
