// CPU version: the same code as min_rows.cu, compiled as C.
#include "min_rows.cu"
