#!/usr/bin/env bash
# Branch sla13's third and fourth device calls (no ncu): tools/device/sla_ab.sh with the prebuilt binaries
# (memcheck + GPU test of the lab variants, A/B at 97%, bench/attn_sla.sh on the fastest unless
# BENCH=0). The variants it names (hdirect, tot16, early: VDIT_SLA_FWD values) were measured and
# removed; the code keeps no lab switch (docs/attention.md, SLA2 H200 round 13).
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT="${OUT:-out}" PREBUILT="${PREBUILT:-prebuilt}"
mkdir -p "$OUT"
date -u
TESTED="${TESTED:-hdirect+tot16}" VARIANTS="${VARIANTS:-default hdirect tot16 hdirect+tot16}" ROUNDS="${ROUNDS:-2}" \
  BENCH="${BENCH:-1}" bash tools/device/sla_ab.sh > /dev/null 2>&1
date -u >> "$OUT/log"
tail -c 7000 "$OUT/log"
