// CPU version: the same code as hypot.cu, compiled as C.
#include "hypot.cu"
