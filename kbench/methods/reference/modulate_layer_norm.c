// CPU version: the same code as modulate_layer_norm.cu, compiled as C.
#include "modulate_layer_norm.cu"
