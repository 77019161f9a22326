// CPU version: the same code as dequant_nvfp4.cu, compiled as C.
#include "dequant_nvfp4.cu"
