// CPU version: the same code as batch_norm.cu, compiled as C.
#include "batch_norm.cu"
