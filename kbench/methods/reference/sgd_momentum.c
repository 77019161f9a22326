// CPU version: the same code as sgd_momentum.cu, compiled as C.
#include "sgd_momentum.cu"
