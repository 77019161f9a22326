// CPU version: the same code as quant_nvfp4.cu, compiled as C.
#include "quant_nvfp4.cu"
