// CPU version: the same code as outer.cu, compiled as C.
#include "outer.cu"
