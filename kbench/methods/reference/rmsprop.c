// CPU version: the same code as rmsprop.cu, compiled as C.
#include "rmsprop.cu"
