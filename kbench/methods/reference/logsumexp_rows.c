// CPU version: the same code as logsumexp_rows.cu, compiled as C.
#include "logsumexp_rows.cu"
