// CPU version: the same code as relu.cu, compiled as C.
#include "relu.cu"
