// CPU version: the same code as sigmoid.cu, compiled as C.
#include "sigmoid.cu"
