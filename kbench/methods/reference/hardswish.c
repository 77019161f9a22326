// CPU version: the same code as hardswish.cu, compiled as C.
#include "hardswish.cu"
