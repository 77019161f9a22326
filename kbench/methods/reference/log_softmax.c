// CPU version: the same code as log_softmax.cu, compiled as C.
#include "log_softmax.cu"
