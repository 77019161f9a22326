// CPU version: the same code as l2_norm_rows.cu, compiled as C.
#include "l2_norm_rows.cu"
