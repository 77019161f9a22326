// CPU version: the same code as sum_rows.cu, compiled as C.
#include "sum_rows.cu"
