// CPU version: the same code as quant_mxfp8_e4m3.cu, compiled as C.
#include "quant_mxfp8_e4m3.cu"
