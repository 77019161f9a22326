// CPU version: the same code as quant_int8_row.cu, compiled as C.
#include "quant_int8_row.cu"
