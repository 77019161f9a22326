// CPU version: the same code as quant_mxfp4.cu, compiled as C.
#include "quant_mxfp4.cu"
