// CPU version: the same code as upsample_bilinear.cu, compiled as C.
#include "upsample_bilinear.cu"
