// CPU version: the same code as masked_fill.cu, compiled as C.
#include "masked_fill.cu"
