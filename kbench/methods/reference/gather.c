// CPU version: the same code as gather.cu, compiled as C.
#include "gather.cu"
