// SLA2's part of the attention check (internal; sla_check.c).
#ifndef VDIT_ATTN_SLA_CHECK_H
#define VDIT_ATTN_SLA_CHECK_H

#include "attn/attn_kernels.h"

// The fp64 reference of SLA2 on problem->map (a host map) with w's parameters: o, lse and,
// with backward, dq, dk, dv, g_wq, g_wk (H, D, D_r), g_logit (H) as the gradients of
// sum(d_o * O). Then, when B H Sq Sk D <= 2^24, central finite differences of the reference's
// relaxed forward for a few entries of every gradient: *fd_checked entries, *fd_max_rel the
// worst |analytic - fd| / (|fd| + 1e-6 max|fd|) (0 and 0 when skipped).
vdit_status vdit_attn_sla_check_reference(const vdit_attn_problem *problem, const vdit_attn_sla_weights *w, const double *q,
                                          const double *k, const double *v, const double *d_o, int backward, double *o,
                                          double *lse, double *dq, double *dk, double *dv, double *g_wq, double *g_wk,
                                          double *g_logit, int *fd_checked, double *fd_max_rel);

#endif
