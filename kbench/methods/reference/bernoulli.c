// CPU version: the same code as bernoulli.cu, compiled as C.
#include "bernoulli.cu"
