// CPU version: the same code as add.cu, compiled as C.
#include "add.cu"
