// CPU version: the same code as tanh.cu, compiled as C.
#include "tanh.cu"
