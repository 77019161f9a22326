// CPU version: the same code as log.cu, compiled as C.
#include "log.cu"
