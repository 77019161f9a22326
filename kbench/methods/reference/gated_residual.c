// CPU version: the same code as gated_residual.cu, compiled as C.
#include "gated_residual.cu"
