// CPU version: the same code as elu.cu, compiled as C.
#include "elu.cu"
