// CPU version: the same code as scatter_add.cu, compiled as C.
#include "scatter_add.cu"
