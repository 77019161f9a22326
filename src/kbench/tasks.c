// The kbench task registry: one row per task. Shapes list n[] per correctness shape (the
// first is the standard, smallest one; the others odd sizes) and the timing shape; f[]
// holds the scalar parameters. docs/kbench.md lists the tasks with their layouts.
#include <string.h>

#include "kbench/kbench_internal.h"

#define C(x) VDIT_KBENCH_##x
#define ROWS {{16, 256}, {37, 999}, {5, 4097}}, 3, {2048, 2048}
#define QROWS {{16, 256}, {37, 992}, {5, 4096}}, 3, {2048, 2048}
#define GEMM {{32, 48, 64}, {37, 53, 71}, {64, 33, 129}}, 3, {2048, 2048, 2048}
#define QGEMM {{32, 48, 64}, {37, 53, 96}, {16, 33, 160}}, 3, {2048, 2048, 2048}
#define ATTN {{1, 64, 64, 2, 64}, {2, 37, 53, 3, 40}, {1, 50, 50, 1, 128}}, 3, {1, 4096, 4096, 8, 128}
#define PLANES {{8, 16, 16}, {5, 19, 23}, {3, 33, 8}}, 3, {256, 256, 256}
#define EPS {1e-5f}

#define UNARY(name, cat, op, summary) {name, C(cat), 1, &kb_family_unary, op, 0, 0, ROWS, {0}, summary}
#define BINARY(name, op, summary, ...) {name, C(MATH), 1, &kb_family_binary, op, 0, 0, ROWS, {__VA_ARGS__}, summary}

static const kb_task tasks[] = {
    // ------------------------------------------------------------ Activation
    UNARY("relu", ACTIVATION, KB_U_RELU, "y = max(x, 0)"),
    UNARY("leaky_relu", ACTIVATION, KB_U_LEAKY_RELU, "y = x > 0 ? x : 0.01 x"),
    UNARY("gelu_tanh", ACTIVATION, KB_U_GELU_TANH, "y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (engine op)"),
    UNARY("gelu_erf", ACTIVATION, KB_U_GELU_ERF, "y = 0.5 x (1 + erf(x / sqrt 2))"),
    UNARY("silu", ACTIVATION, KB_U_SILU, "y = x / (1 + exp(-x)) (engine op)"),
    UNARY("sigmoid", ACTIVATION, KB_U_SIGMOID, "y = 1 / (1 + exp(-x))"),
    UNARY("tanh", ACTIVATION, KB_U_TANH, "y = tanh x"),
    UNARY("softplus", ACTIVATION, KB_U_SOFTPLUS, "y = log(1 + exp x), x for x > 20"),
    UNARY("elu", ACTIVATION, KB_U_ELU, "y = x > 0 ? x : exp(x) - 1"),
    UNARY("selu", ACTIVATION, KB_U_SELU, "y = 1.0507 (x > 0 ? x : 1.67326 (exp(x) - 1))"),
    UNARY("hardswish", ACTIVATION, KB_U_HARDSWISH, "y = x clamp(x + 3, 0, 6) / 6"),
    UNARY("hardsigmoid", ACTIVATION, KB_U_HARDSIGMOID, "y = clamp(x / 6 + 0.5, 0, 1)"),
    UNARY("mish", ACTIVATION, KB_U_MISH, "y = x tanh(softplus x)"),
    UNARY("softsign", ACTIVATION, KB_U_SOFTSIGN, "y = x / (1 + |x|)"),
    {"softmax", C(ACTIVATION), 2, &kb_family_row_map, KB_M_SOFTMAX, 0, 0, ROWS, {0}, "row softmax of x (n0, n1) (engine op)"},
    {"log_softmax", C(ACTIVATION), 2, &kb_family_row_map, KB_M_LOG_SOFTMAX, 0, 0, ROWS, {0}, "row log-softmax of x (n0, n1)"},
    // ------------------------------------------------------------ Math
    UNARY("exp", MATH, KB_U_EXP, "y = exp x, x in [-20, 20]"),
    UNARY("log", MATH, KB_U_LOG, "y = log x, x in [0.01, 100]"),
    UNARY("sqrt", MATH, KB_U_SQRT, "y = sqrt x"),
    UNARY("rsqrt", MATH, KB_U_RSQRT, "y = 1 / sqrt x"),
    UNARY("abs", MATH, KB_U_ABS, "y = |x|"),
    UNARY("sin", MATH, KB_U_SIN, "y = sin x"),
    UNARY("cos", MATH, KB_U_COS, "y = cos x"),
    UNARY("square", MATH, KB_U_SQUARE, "y = x^2"),
    UNARY("reciprocal", MATH, KB_U_RECIPROCAL, "y = 1 / x, x in [0.1, 10]"),
    UNARY("erf", MATH, KB_U_ERF, "y = erf x"),
    BINARY("add", KB_B_ADD, "y = a + b", 0),
    BINARY("mul", KB_B_MUL, "y = a b", 0),
    BINARY("div", KB_B_DIV, "y = a / b, b in [0.5, 4]", 0),
    BINARY("maximum", KB_B_MAXIMUM, "y = max(a, b)", 0),
    BINARY("hypot", KB_B_HYPOT, "y = sqrt(a^2 + b^2)", 0),
    BINARY("axpby", KB_B_AXPBY, "y = f0 a + f1 b (f0 = 0.75, f1 = -1.25)", 0.75f, -1.25f),
    {"cumsum", C(MATH), 2, &kb_family_row_map, KB_M_CUMSUM, 0, 0, ROWS, {0}, "inclusive prefix sum of each row"},
    {"timestep_embedding", C(MATH), 2, &kb_family_fusion, KB_F_TIMESTEP_EMBEDDING, 0, 0,
     {{16, 256}, {37, 99}}, 2, {4096, 1024}, {0}, "t (n0) -> (n0, n1) sinusoidal, cos first (engine op)"},
    // ------------------------------------------------------------ Reduce
    {"sum_rows", C(REDUCE), 2, &kb_family_row_reduce, KB_R_SUM, 0, 0, ROWS, {0}, "y (n0) = sum of each row"},
    {"mean_rows", C(REDUCE), 2, &kb_family_row_reduce, KB_R_MEAN, 0, 0, ROWS, {0}, "y (n0) = mean of each row"},
    {"max_rows", C(REDUCE), 2, &kb_family_row_reduce, KB_R_MAX, 0, 0, ROWS, {0}, "y (n0) = max of each row"},
    {"min_rows", C(REDUCE), 2, &kb_family_row_reduce, KB_R_MIN, 0, 0, ROWS, {0}, "y (n0) = min of each row"},
    {"l2_norm_rows", C(REDUCE), 2, &kb_family_row_reduce, KB_R_L2, 0, 0, ROWS, {0}, "y (n0) = ||row||_2"},
    {"var_rows", C(REDUCE), 2, &kb_family_row_reduce, KB_R_VAR, 0, 0, ROWS, {0}, "y (n0) = unbiased variance of each row"},
    {"logsumexp_rows", C(REDUCE), 2, &kb_family_row_reduce, KB_R_LOGSUMEXP, 0, 0, ROWS, {0}, "y (n0) = log sum exp of each row"},
    // ------------------------------------------------------------ Index
    {"argmax_rows", C(INDEX), 2, &kb_family_row_reduce, KB_R_ARGMAX, 1, 0, ROWS, {0}, "y i32 (n0) = first index of the row max"},
    {"argmin_rows", C(INDEX), 2, &kb_family_row_reduce, KB_R_ARGMIN, 1, 0, ROWS, {0}, "y i32 (n0) = first index of the row min"},
    {"embedding", C(INDEX), 1, &kb_family_index, KB_I_EMBEDDING, 1, 0, {{64, 128, 100}, {37, 99, 1000}}, 2, {16384, 1536, 4096}, {0},
     "table (n2, n1), idx i32 (n0) -> (n0, n1)"},
    {"gather", C(INDEX), 2, &kb_family_index, KB_I_GATHER, 1, 0, {{16, 256, 64}, {37, 999, 50}}, 2, {4096, 4096, 1024}, {0},
     "x (n0, n1), idx i32 (n0, n2) -> x[r, idx[r, k]]"},
    {"scatter_add", C(INDEX), 3, &kb_family_index, KB_I_SCATTER_ADD, 0, 0, {{64, 128, 16}, {101, 99, 37}}, 2, {16384, 512, 256}, {0},
     "src (n0, n1), idx i32 (n0) -> y (n2, n1), rows summed (deterministic)"},
    {"one_hot", C(INDEX), 1, &kb_family_index, KB_I_ONE_HOT, 1, 0, {{64, 100}, {37, 999}}, 2, {4096, 4096}, {0},
     "idx i32 (n0) -> f32 (n0, n1)"},
    {"masked_fill", C(INDEX), 1, &kb_family_index, KB_I_MASKED_FILL, 1, 0, {{16, 256}, {37, 999}}, 2, {4096, 4096}, {-7.5f},
     "x (n0, n1), mask u8 -> mask ? f0 : x"},
    // ------------------------------------------------------------ Normalization
    {"layer_norm", C(NORMALIZATION), 2, &kb_family_row_map, KB_M_LAYER_NORM, 0, 0, ROWS, EPS, "x (n0, n1), w, b (n1) -> layer norm (engine op)"},
    {"rms_norm", C(NORMALIZATION), 2, &kb_family_row_map, KB_M_RMS_NORM, 0, 0, ROWS, EPS, "x (n0, n1), w (n1) -> RMS norm (engine op)"},
    {"l2_normalize", C(NORMALIZATION), 2, &kb_family_row_map, KB_M_L2_NORMALIZE, 0, 0, ROWS, {1e-12f}, "y = x / max(||x||, f0) per row"},
    {"group_norm", C(NORMALIZATION), 3, &kb_family_channel_norm, KB_CN_GROUP, 0, 0, {{2, 32, 64, 8}, {3, 12, 37, 4}}, 2, {8, 512, 4096, 32}, EPS,
     "x (n0, n1, n2), n3 groups, w, b (n1)"},
    {"instance_norm", C(NORMALIZATION), 3, &kb_family_channel_norm, KB_CN_INSTANCE, 0, 0, {{2, 8, 64}, {3, 5, 37}}, 2, {8, 512, 4096}, EPS,
     "x (n0, n1, n2), w, b (n1)"},
    {"batch_norm", C(NORMALIZATION), 2, &kb_family_channel_norm, KB_CN_BATCH, 0, 0, {{2, 8, 64}, {3, 5, 37}}, 2, {8, 512, 4096}, EPS,
     "x (n0, n1, n2), mean, var, w, b (n1) (inference)"},
    // ------------------------------------------------------------ Loss
    {"mse_loss", C(LOSS), 2, &kb_family_loss, KB_L_MSE, 0, 0, ROWS, {0}, "mean (a - b)^2"},
    {"l1_loss", C(LOSS), 2, &kb_family_loss, KB_L_L1, 0, 0, ROWS, {0}, "mean |a - b|"},
    {"huber_loss", C(LOSS), 2, &kb_family_loss, KB_L_HUBER, 0, 0, ROWS, {1.0f}, "mean Huber, delta f0"},
    {"bce_loss", C(LOSS), 2, &kb_family_loss, KB_L_BCE, 0, 0, ROWS, {0}, "mean binary cross entropy of probabilities"},
    {"kl_div_loss", C(LOSS), 2, &kb_family_loss, KB_L_KL_DIV, 0, 0, ROWS, {0}, "sum t (log t - a) / n0"},
    {"cross_entropy_loss", C(LOSS), 3, &kb_family_loss, KB_L_CROSS_ENTROPY, 0, 0, ROWS, {0}, "logits (n0, n1), class i32 (n0) -> mean CE"},
    // ------------------------------------------------------------ MatrixMultiply
    {"matmul", C(MATRIX_MULTIPLY), 3, &kb_family_matmul, KB_MM_MATMUL, 0, 0, GEMM, {0}, "A (n0, n2) B (n2, n1)"},
    {"linear", C(MATRIX_MULTIPLY), 3, &kb_family_matmul, KB_MM_LINEAR, 0, 0, GEMM, {0}, "x (n0, n2) W (n1, n2)^T + b (engine op)"},
    {"linear_bf16", C(MATRIX_MULTIPLY), 3, &kb_family_matmul, KB_MM_LINEAR_BF16, 0, 0, GEMM, {0}, "bf16 x, W; f32 b, y, fp32 accumulation"},
    {"bmm", C(MATRIX_MULTIPLY), 3, &kb_family_matmul, KB_MM_BMM, 0, 0, {{32, 48, 64, 2}, {37, 53, 71, 3}}, 2, {512, 512, 512, 16}, {0},
     "A (n3, n0, n2) B (n3, n2, n1)"},
    {"matmul_ta", C(MATRIX_MULTIPLY), 3, &kb_family_matmul, KB_MM_MATMUL_TA, 0, 0, GEMM, {0}, "A (n2, n0)^T B (n2, n1)"},
    // ------------------------------------------------------------ LinearAlgebra
    {"transpose", C(LINEAR_ALGEBRA), 2, &kb_family_linalg, KB_LA_TRANSPOSE, 1, 0, ROWS, {0}, "(n0, n1) -> (n1, n0)"},
    {"gemv", C(LINEAR_ALGEBRA), 2, &kb_family_linalg, KB_LA_GEMV, 0, 0, ROWS, {0}, "A (n0, n1) x (n1) -> (n0)"},
    {"tril", C(LINEAR_ALGEBRA), 1, &kb_family_linalg, KB_LA_TRIL, 1, 0, ROWS, {0}, "lower triangle with the diagonal"},
    {"outer", C(LINEAR_ALGEBRA), 1, &kb_family_linalg, KB_LA_OUTER, 0, 0, ROWS, {0}, "u (n0) v (n1) -> (n0, n1)"},
    {"frobenius_norm", C(LINEAR_ALGEBRA), 2, &kb_family_linalg, KB_LA_FROBENIUS, 0, 0, ROWS, {0}, "sqrt(sum a^2), one scalar"},
    {"diag_scale", C(LINEAR_ALGEBRA), 1, &kb_family_linalg, KB_LA_DIAG_SCALE, 0, 0, ROWS, {0}, "d (n0) A (n0, n1) e (n1) -> d_i A_ij e_j"},
    // ------------------------------------------------------------ Quantization
    {"quant_int8_row", C(QUANTIZATION), 2, &kb_family_quant, KB_Q_INT8_ROW, 1, 0, ROWS, {0}, "int8 per row: q i8, scales f32 (vdit_quantize_int8_rows)"},
    {"quant_int8_block", C(QUANTIZATION), 2, &kb_family_quant, KB_Q_INT8_BLOCK, 1, 0, QROWS, {0}, "int8 32-blocks (vdit_block_int8)"},
    {"quant_nvfp4", C(QUANTIZATION), 3, &kb_family_quant, KB_Q_NVFP4, 1, 0, QROWS, {0}, "NVFP4 blocks + tensor scale (vdit_quantize_nvfp4)"},
    {"quant_mxfp4", C(QUANTIZATION), 2, &kb_family_quant, KB_Q_MXFP4, 1, 0, QROWS, {0}, "MXFP4 blocks (vdit_quantize_mxfp4)"},
    {"quant_mxfp8_e4m3", C(QUANTIZATION), 2, &kb_family_quant, KB_Q_MXFP8_E4M3, 1, 0, QROWS, {0}, "MXFP8 e4m3 blocks"},
    {"quant_mxfp8_e5m2", C(QUANTIZATION), 2, &kb_family_quant, KB_Q_MXFP8_E5M2, 1, 0, QROWS, {0}, "MXFP8 e5m2 blocks"},
    {"cast_bf16", C(QUANTIZATION), 1, &kb_family_quant, KB_Q_CAST_BF16, 1, 0, ROWS, {0}, "f32 -> bf16 codes, RNE"},
    {"cast_fp8_e4m3", C(QUANTIZATION), 1, &kb_family_quant, KB_Q_CAST_E4M3, 1, 0, ROWS, {0}, "f32 -> e4m3 codes, RNE, satfinite"},
    {"dequant_nvfp4", C(QUANTIZATION), 2, &kb_family_quant, KB_Q_DEQUANT_NVFP4, 1, 0, QROWS, {0}, "NVFP4 blocks + tensor scale -> f32"},
    {"w8a8_linear", C(QUANTIZATION), 4, &kb_family_qlinear, KB_QL_W8A8, 1, 0, QGEMM, {0}, "int8 x (per row, by the candidate) x int8 W -> f32, exact"},
    {"w4a16_linear", C(QUANTIZATION), 4, &kb_family_qlinear, KB_QL_W4A16, 0, 0, QGEMM, {0}, "bf16 x, int4 W (32-groups) -> f32"},
    {"nvfp4_linear", C(QUANTIZATION), 5, &kb_family_qlinear, KB_QL_NVFP4, 0, 0, QGEMM, {0}, "NVFP4 x (by the candidate) x NVFP4 W -> f32"},
    {"w8a8_attention", C(QUANTIZATION), 5, &kb_family_attention, KB_A_W8A8, 0, 0, ATTN, {0}, "attention with int8 per-row q, k"},
    // ------------------------------------------------------------ Optimizer
    {"adamw", C(OPTIMIZER), 2, &kb_family_optimizer, KB_O_ADAMW, 0, 0, ROWS, {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f}, "AdamW step t = 10, out of place"},
    {"adam", C(OPTIMIZER), 2, &kb_family_optimizer, KB_O_ADAM, 0, 0, ROWS, {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f}, "Adam with L2 weight decay"},
    {"sgd_momentum", C(OPTIMIZER), 1, &kb_family_optimizer, KB_O_SGD_MOMENTUM, 0, 0, ROWS, {1e-2f, 0.9f}, "SGD with momentum"},
    {"rmsprop", C(OPTIMIZER), 2, &kb_family_optimizer, KB_O_RMSPROP, 0, 0, ROWS, {1e-3f, 0.99f, 0, 1e-8f}, "RMSprop"},
    {"adagrad", C(OPTIMIZER), 1, &kb_family_optimizer, KB_O_ADAGRAD, 0, 0, ROWS, {1e-2f, 0, 0, 1e-10f}, "Adagrad"},
    {"lion", C(OPTIMIZER), 2, &kb_family_optimizer, KB_O_LION, 0, 0, ROWS, {1e-4f, 0.9f, 0.99f, 0, 0.01f}, "Lion"},
    // ------------------------------------------------------------ SpatialOps
    {"rope_3d", C(SPATIAL_OPS), 3, &kb_family_spatial, KB_S_ROPE_3D, 0, 0, {{1, 4, 4, 4, 2, 64}, {2, 3, 5, 7, 3, 48}}, 2,
     {1, 21, 30, 52, 12, 128}, {0}, "Wan 3D RoPE on x (n0, F Hh Ww, n4, n5) (engine op)"},
    {"patchify", C(SPATIAL_OPS), 2, &kb_family_spatial, KB_S_PATCHIFY, 1, 0, {{1, 4, 2, 8, 8, 2}, {2, 3, 3, 10, 6, 2}}, 2,
     {1, 16, 21, 60, 104, 2}, {0}, "video (B, C, F, H, W) -> tokens (B, S, C P P)"},
    {"unpatchify", C(SPATIAL_OPS), 2, &kb_family_spatial, KB_S_UNPATCHIFY, 1, 0, {{1, 4, 2, 8, 8, 2}, {2, 3, 3, 10, 6, 2}}, 2,
     {1, 16, 21, 60, 104, 2}, {0}, "tokens (B, S, P P C) -> video (engine op)"},
    {"upsample_nearest", C(SPATIAL_OPS), 1, &kb_family_spatial, KB_S_UPSAMPLE_NEAREST, 1, 0, PLANES, {0}, "(n0, H, W) -> (n0, 2H, 2W)"},
    {"upsample_bilinear", C(SPATIAL_OPS), 2, &kb_family_spatial, KB_S_UPSAMPLE_BILINEAR, 0, 0, PLANES, {0}, "2x bilinear, align_corners False"},
    {"pad_reflect", C(SPATIAL_OPS), 2, &kb_family_spatial, KB_S_PAD, 1, 0, PLANES, {0}, "reflection pad 2 on H and W"},
    {"flip", C(SPATIAL_OPS), 1, &kb_family_spatial, KB_S_FLIP, 1, 0, ROWS, {0}, "reverse each row"},
    // ------------------------------------------------------------ Convolution
    {"conv1d", C(CONVOLUTION), 3, &kb_family_conv, KB_CV_CONV1D, 0, 0, {{2, 8, 16, 64, 3}, {3, 5, 7, 101, 5}}, 2, {8, 64, 64, 4096, 3}, {0},
     "x (B, Cin, L) w (Cout, Cin, K), pad K/2"},
    {"conv2d", C(CONVOLUTION), 4, &kb_family_conv, KB_CV_CONV2D, 0, 0, {{2, 4, 8, 16, 16, 3}, {1, 5, 7, 19, 23, 3}, {2, 3, 4, 9, 13, 5}}, 3,
     {8, 64, 64, 64, 64, 3}, {0}, "x (B, Cin, H, W) w (Cout, Cin, K, K), pad K/2"},
    {"depthwise_conv2d", C(CONVOLUTION), 3, &kb_family_conv, KB_CV_DEPTHWISE, 0, 0, {{2, 8, 8, 16, 16, 3}, {1, 5, 5, 19, 23, 3}}, 2,
     {8, 128, 128, 64, 64, 3}, {0}, "x (B, C, H, W) w (C, 1, K, K)"},
    {"pointwise_conv2d", C(CONVOLUTION), 3, &kb_family_conv, KB_CV_POINTWISE, 0, 0, {{2, 8, 16, 16, 16}, {1, 5, 7, 19, 23}}, 2,
     {8, 128, 128, 64, 64}, {0}, "1x1 conv: w (Cout, Cin)"},
    {"patch_embed", C(CONVOLUTION), 4, &kb_family_conv, KB_CV_PATCH_EMBED, 0, 0, {{1, 4, 32, 2, 8, 8, 2}, {2, 3, 24, 3, 10, 6, 2}}, 2,
     {1, 16, 1536, 21, 60, 104, 2}, {0}, "Conv3d (1, P, P) stride = kernel -> tokens (engine op)"},
    // ------------------------------------------------------------ Pooling
    {"max_pool2d", C(POOLING), 2, &kb_family_pool, KB_P_MAX2D, 1, 0, PLANES, {0}, "2x2 stride 2"},
    {"avg_pool2d", C(POOLING), 2, &kb_family_pool, KB_P_AVG2D, 0, 0, PLANES, {0}, "2x2 stride 2"},
    {"global_avg_pool", C(POOLING), 2, &kb_family_pool, KB_P_GLOBAL_AVG, 0, 0, ROWS, {0}, "(n0, n1) -> mean (n0)"},
    {"max_pool1d", C(POOLING), 2, &kb_family_pool, KB_P_MAX1D, 1, 0, ROWS, {0}, "window 3 stride 2"},
    // ------------------------------------------------------------ Random
    {"philox_uniform", C(RANDOM), 2, &kb_family_random, KB_RND_UNIFORM, 1, 0, ROWS, {0}, "uniforms of stream (i0, offset i1)"},
    {"philox_bits", C(RANDOM), 2, &kb_family_random, KB_RND_BITS, 1, 0, ROWS, {0}, "raw u32 of stream (i0, offset i1)"},
    {"dropout", C(RANDOM), 2, &kb_family_random, KB_RND_DROPOUT, 1, 0, ROWS, {0.1f}, "u >= f0 ? x f1 : 0"},
    {"bernoulli", C(RANDOM), 2, &kb_family_random, KB_RND_BERNOULLI, 1, 0, ROWS, {0.3f}, "u8 = u < f0"},
    // ------------------------------------------------------------ Fusion (DiT block pieces)
    {"modulate", C(FUSION), 2, &kb_family_fusion, KB_F_MODULATE, 0, 0, {{1, 16, 256}, {2, 37, 99}}, 2, {1, 8192, 1536}, {0},
     "x (B, S, C) (1 + scale (B, C)) + shift (engine op)"},
    {"gated_residual", C(FUSION), 2, &kb_family_fusion, KB_F_GATED_RESIDUAL, 0, 0, {{1, 16, 256}, {2, 37, 99}}, 2, {1, 8192, 1536}, {0},
     "x + gate (B, C) h (engine op)"},
    {"modulate_layer_norm", C(FUSION), 3, &kb_family_fusion, KB_F_MODULATE_LAYER_NORM, 0, 0, {{1, 16, 256}, {2, 37, 99}}, 2,
     {1, 8192, 1536}, {1e-6f}, "layer_norm(x) (1 + scale) + shift (Wan's AdaLN)"},
    {"linear_gelu", C(FUSION), 3, &kb_family_fusion, KB_F_LINEAR_GELU, 0, 0, GEMM, {0}, "gelu_tanh(x W^T + b)"},
    {"gelu_ffn", C(FUSION), 4, &kb_family_fusion, KB_F_FFN, 0, 0, {{16, 64, 256}, {37, 48, 96}}, 2, {1024, 1024, 4096}, {0},
     "gelu_tanh(x W1^T + b1) W2^T + b2 (Wan's FFN)"},
    {"add_rms_norm", C(FUSION), 3, &kb_family_fusion, KB_F_ADD_RMS_NORM, 0, 0, ROWS, EPS, "r = x + h; y = rms_norm(r) w"},
    {"attention", C(FUSION), 4, &kb_family_attention, KB_A_DENSE, 0, 0, ATTN, {0}, "softmax(q k^T / sqrt D) v, (B, S, H, D) (engine op)"},
    {"attention_causal", C(FUSION), 4, &kb_family_attention, KB_A_CAUSAL, 0, 0, ATTN, {0}, "causal, bottom-right aligned"},
    {"attention_rope", C(FUSION), 5, &kb_family_attention, KB_A_ROPE, 0, 0,
     {{1, 64, 64, 2, 64, 4, 4, 4}, {1, 48, 48, 3, 48, 3, 4, 4}}, 2, {1, 4096, 4096, 8, 128, 16, 16, 16}, {0},
     "3D RoPE on q, k then attention"},
};

enum { TASK_COUNT = sizeof tasks / sizeof tasks[0] };

const kb_task *kb_task_at(int index) { return index >= 0 && index < TASK_COUNT ? &tasks[index] : NULL; }

int vdit_kbench_task_count(void) { return TASK_COUNT; }

int vdit_kbench_task_find(const char *name) {
  for (int i = 0; i < TASK_COUNT; i++)
    if (strcmp(tasks[i].name, name) == 0) return i;
  return -1;
}

vdit_status vdit_kbench_task_get(int index, vdit_kbench_task_info *info) {
  const kb_task *t = kb_task_at(index);
  if (!t || !info) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "kbench: no task %d (%d tasks)", index, TASK_COUNT);
  info->name = t->name, info->category = t->category, info->difficulty = t->difficulty;
  info->exact = t->exact, info->summary = t->summary, info->shape_count = t->shape_count;
  return VDIT_OK;
}

static const char *const category_names[VDIT_KBENCH_CATEGORY_COUNT] = {
    "Fusion", "Math", "LinearAlgebra", "Activation", "MatrixMultiply", "Index", "Loss", "Quantization",
    "Reduce", "Normalization", "Optimizer", "SpatialOps", "Convolution", "Pooling", "Random"};

const char *vdit_kbench_category_name(vdit_kbench_category category) {
  return (unsigned)category < VDIT_KBENCH_CATEGORY_COUNT ? category_names[category] : "?";
}

vdit_status vdit_kbench_category_parse(const char *name, vdit_kbench_category *category) {
  for (int i = 0; i < VDIT_KBENCH_CATEGORY_COUNT; i++)
    if (strcmp(name, category_names[i]) == 0) {
      *category = (vdit_kbench_category)i;
      return VDIT_OK;
    }
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown kbench category '%s'", name);
}

static const char *const reason_names[VDIT_KBENCH_REASON_COUNT] = {
    "pass", "missing", "compile_error", "load_error", "launch_error", "crash", "timeout", "side_stream",
    "input_modified", "unwritten", "stale_output", "shape_specific", "partial_rows", "contract_mismatch",
    "inaccurate", "nonfinite", "nondeterministic"};

const char *vdit_kbench_reason_name(vdit_kbench_reason reason) {
  return (unsigned)reason < VDIT_KBENCH_REASON_COUNT ? reason_names[reason] : "?";
}
