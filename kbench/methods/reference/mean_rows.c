// CPU version: the same code as mean_rows.cu, compiled as C.
#include "mean_rows.cu"
