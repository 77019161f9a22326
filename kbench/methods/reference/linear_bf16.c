// CPU version: the same code as linear_bf16.cu, compiled as C.
#include "linear_bf16.cu"
