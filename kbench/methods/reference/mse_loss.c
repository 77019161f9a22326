// CPU version: the same code as mse_loss.cu, compiled as C.
#include "mse_loss.cu"
