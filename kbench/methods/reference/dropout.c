// CPU version: the same code as dropout.cu, compiled as C.
#include "dropout.cu"
