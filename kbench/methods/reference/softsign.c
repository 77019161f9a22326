// CPU version: the same code as softsign.cu, compiled as C.
#include "softsign.cu"
