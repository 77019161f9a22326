// CPU version: the same code as upsample_nearest.cu, compiled as C.
#include "upsample_nearest.cu"
