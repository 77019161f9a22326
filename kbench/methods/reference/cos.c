// CPU version: the same code as cos.cu, compiled as C.
#include "cos.cu"
