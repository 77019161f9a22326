// CPU version: the same code as exp.cu, compiled as C.
#include "exp.cu"
