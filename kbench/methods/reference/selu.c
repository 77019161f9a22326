// CPU version: the same code as selu.cu, compiled as C.
#include "selu.cu"
