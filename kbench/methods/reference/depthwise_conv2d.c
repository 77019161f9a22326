// CPU version: the same code as depthwise_conv2d.cu, compiled as C.
#include "depthwise_conv2d.cu"
