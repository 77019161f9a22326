// CPU version: the same code as huber_loss.cu, compiled as C.
#include "huber_loss.cu"
