#!/usr/bin/env bash
# Branch sla13's device call: ncu of prepare and out (default and the lab variants), then
# tools/device/sla_ab.sh (memcheck + GPU test + A/B at 97% + bench/attn_sla.sh on the fastest).
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT="${OUT:-out}"
mkdir -p "$OUT" build-gpu/tests
pre="${PREBUILT:-prebuilt}"
gunzip -f "$pre/vdit.gz" "$pre/test_attn_sla_gpu.gz" 2>/dev/null; chmod +x "$pre/vdit" "$pre/test_attn_sla_gpu"
export PREBUILT="$pre"
date -u
NCU_VARIANTS="${NCU_VARIANTS:-default}" BIN="$pre/vdit" bash tools/device/sla_ncu.sh > "$OUT/ncu-summary.txt" 2>&1
cat "$OUT/ncu-summary.txt" >> "$OUT/ncu.txt" && rm "$OUT/ncu-summary.txt" # at most 8 files come back
date -u
bash tools/device/sla_ab.sh > /dev/null 2>&1
date -u >> "$OUT/log"
tail -c 5500 "$OUT/log"; tail -c 6000 "$OUT/ncu.txt"
