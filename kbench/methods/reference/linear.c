// CPU version: the same code as linear.cu, compiled as C.
#include "linear.cu"
