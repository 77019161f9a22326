// CPU version: the same code as timestep_embedding.cu, compiled as C.
#include "timestep_embedding.cu"
