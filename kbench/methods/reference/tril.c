// CPU version: the same code as tril.cu, compiled as C.
#include "tril.cu"
