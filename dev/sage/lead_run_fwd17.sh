#!/bin/bash
# Round 17 (sagefwd17) lab call, run by the lead from .devlab/sagefwd17 as `OUT=<dir> bash lead_run.sh`
# (a copy of this file): prebuilt sm_90a Release binaries of lab commit (branch sagefwd17) under
# dev/sage/bin (vdit, test_attn_sage_gpu; main-vdit = main's sage forward engine), the variants
# VDIT_SAGE_FWD=l1 (the stage release by one atom.shared.exch), l2 (the unmasked row maximum's short
# chain), l3 (both), l7 (both + the release deferred under the next S, no release barrier) first
# through test_attn_sage_gpu's forward cases (in parallel) and the fp64 check, then ROUNDS=3 of
# forward timings with our dense first and last and main's engine in every round.
cd "$(dirname "$0")"
OUT="${OUT:?}" PAR_TESTS=1 TEST_VARIANTS="l1 l2 l3 l7" CHECK_VARIANTS="l1 l2 l3 l7" VARIANTS="l1 l2 l3 l7" ROUNDS=3 \
  ENGINES="main=dev/sage/bin/main-vdit" FULL_BEFORE=0 bash dev/sage/run_fwd_variants_device.sh 2>&1 | tee "$OUT/log.txt"
