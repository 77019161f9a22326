// CPU version: the same code as bce_loss.cu, compiled as C.
#include "bce_loss.cu"
