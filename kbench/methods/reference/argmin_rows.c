// CPU version: the same code as argmin_rows.cu, compiled as C.
#include "argmin_rows.cu"
