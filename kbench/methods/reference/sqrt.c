// CPU version: the same code as sqrt.cu, compiled as C.
#include "sqrt.cu"
