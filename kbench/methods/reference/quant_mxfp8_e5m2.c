// CPU version: the same code as quant_mxfp8_e5m2.cu, compiled as C.
#include "quant_mxfp8_e5m2.cu"
