// CPU version: the same code as adam.cu, compiled as C.
#include "adam.cu"
