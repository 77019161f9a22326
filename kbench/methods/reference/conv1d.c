// CPU version: the same code as conv1d.cu, compiled as C.
#include "conv1d.cu"
