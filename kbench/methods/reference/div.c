// CPU version: the same code as div.cu, compiled as C.
#include "div.cu"
