// CPU version: the same code as global_avg_pool.cu, compiled as C.
#include "global_avg_pool.cu"
