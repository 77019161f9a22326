// CPU version: the same code as max_rows.cu, compiled as C.
#include "max_rows.cu"
