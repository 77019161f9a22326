// CPU version: the same code as l1_loss.cu, compiled as C.
#include "l1_loss.cu"
