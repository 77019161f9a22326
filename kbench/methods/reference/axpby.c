// CPU version: the same code as axpby.cu, compiled as C.
#include "axpby.cu"
