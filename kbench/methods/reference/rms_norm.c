// CPU version: the same code as rms_norm.cu, compiled as C.
#include "rms_norm.cu"
