// CPU version: the same code as abs.cu, compiled as C.
#include "abs.cu"
