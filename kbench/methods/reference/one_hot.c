// CPU version: the same code as one_hot.cu, compiled as C.
#include "one_hot.cu"
