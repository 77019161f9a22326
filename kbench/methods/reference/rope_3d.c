// CPU version: the same code as rope_3d.cu, compiled as C.
#include "rope_3d.cu"
