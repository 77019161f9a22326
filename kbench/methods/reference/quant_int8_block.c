// CPU version: the same code as quant_int8_block.cu, compiled as C.
#include "quant_int8_block.cu"
