// CPU version: the same code as softmax.cu, compiled as C.
#include "softmax.cu"
