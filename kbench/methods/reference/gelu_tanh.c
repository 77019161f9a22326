// CPU version: the same code as gelu_tanh.cu, compiled as C.
#include "gelu_tanh.cu"
