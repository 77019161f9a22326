// CPU version: the same code as group_norm.cu, compiled as C.
#include "group_norm.cu"
