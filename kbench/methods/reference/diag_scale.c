// CPU version: the same code as diag_scale.cu, compiled as C.
#include "diag_scale.cu"
