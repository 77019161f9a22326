// CPU version: the same code as square.cu, compiled as C.
#include "square.cu"
