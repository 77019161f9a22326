// CPU version: the same code as linear_gelu.cu, compiled as C.
#include "linear_gelu.cu"
