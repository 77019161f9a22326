// CPU version: the same code as pad_reflect.cu, compiled as C.
#include "pad_reflect.cu"
