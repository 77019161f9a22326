// CPU version: the same code as patchify.cu, compiled as C.
#include "patchify.cu"
