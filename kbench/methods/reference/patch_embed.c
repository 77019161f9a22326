// CPU version: the same code as patch_embed.cu, compiled as C.
#include "patch_embed.cu"
