// CPU version: the same code as instance_norm.cu, compiled as C.
#include "instance_norm.cu"
