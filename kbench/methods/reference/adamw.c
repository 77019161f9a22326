// CPU version: the same code as adamw.cu, compiled as C.
#include "adamw.cu"
