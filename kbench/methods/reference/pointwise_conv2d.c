// CPU version: the same code as pointwise_conv2d.cu, compiled as C.
#include "pointwise_conv2d.cu"
