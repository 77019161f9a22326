// CPU version: the same code as kl_div_loss.cu, compiled as C.
#include "kl_div_loss.cu"
