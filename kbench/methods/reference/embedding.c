// CPU version: the same code as embedding.cu, compiled as C.
#include "embedding.cu"
