// CPU version: the same code as modulate.cu, compiled as C.
#include "modulate.cu"
