// CPU version: the same code as bmm.cu, compiled as C.
#include "bmm.cu"
