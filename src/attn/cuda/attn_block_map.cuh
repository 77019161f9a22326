// Bitmap -> compressed-row map on the GPU (attn_block_map.cu), shared with sparge_mask.cu.
#ifndef VDIT_ATTN_BLOCK_MAP_CUH
#define VDIT_ATTN_BLOCK_MAP_CUH

#include "attn/cuda/attn_cuda.h"

// m's offsets and index from the byte bitmap (BH x rows x cols, or with `transposed` the
// bitmap of the transposed map: BH x cols x rows). counts_ready: offsets[r + 1] already hold
// the row counts.
cudaError_t vdit_attn_cuda_bitmap_to_map(const unsigned char *bitmap, const vdit_attn_cuda_map *m, int transposed, int counts_ready,
                               cudaStream_t stream);

#endif
