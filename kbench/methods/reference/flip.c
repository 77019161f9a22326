// CPU version: the same code as flip.cu, compiled as C.
#include "flip.cu"
