// CPU version: the same code as cast_fp8_e4m3.cu, compiled as C.
#include "cast_fp8_e4m3.cu"
