// CPU version: the same code as cross_entropy_loss.cu, compiled as C.
#include "cross_entropy_loss.cu"
