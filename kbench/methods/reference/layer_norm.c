// CPU version: the same code as layer_norm.cu, compiled as C.
#include "layer_norm.cu"
