// CPU version: the same code as argmax_rows.cu, compiled as C.
#include "argmax_rows.cu"
