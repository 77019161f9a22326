// CPU version: the same code as add_rms_norm.cu, compiled as C.
#include "add_rms_norm.cu"
