// CPU version: the same code as leaky_relu.cu, compiled as C.
#include "leaky_relu.cu"
