// CPU version: the same code as unpatchify.cu, compiled as C.
#include "unpatchify.cu"
