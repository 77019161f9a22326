// CPU version: the same code as adagrad.cu, compiled as C.
#include "adagrad.cu"
