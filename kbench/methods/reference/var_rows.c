// CPU version: the same code as var_rows.cu, compiled as C.
#include "var_rows.cu"
