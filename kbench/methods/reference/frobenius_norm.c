// CPU version: the same code as frobenius_norm.cu, compiled as C.
#include "frobenius_norm.cu"
