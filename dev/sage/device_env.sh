# The shared start of the dev/sage device scripts (sourced, not run): the repository root as the
# working directory, OUT, the call's timer (start), BIN (prebuilt binaries carried gzipped or xz'd
# under the 64 MiB carry limit, unpacked here), REPEAT, ROUNDS (the script's ROUNDS_DEFAULT), the timed
# shape (Wan2.1-1.3B: B=1, H=12, S=32760, D=128, bf16, (B, H, S, D)) and OUT/env.txt.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-dev/sage/out}"
mkdir -p "$OUT"
start=$(date +%s)
BIN="${BIN:-dev/sage/bin}"
REPEAT="${REPEAT:-10}"
ROUNDS="${ROUNDS:-${ROUNDS_DEFAULT:-3}}"
SHAPE="--batch 1 --heads 12 --seq 32760 --dim 128 --layout bhsd --dtype bf16 --mask none"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.sm --format=csv
  nvcc --version | tail -1
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
for f in "$BIN"/*.gz; do [ -e "$f" ] && gunzip -f "$f" && chmod +x "${f%.gz}"; done
# xz packs a binary to 40% of gzip's size (more binaries under the carry limit); python3's lzma where xz is missing
for f in "$BIN"/*.xz; do
  [ -e "$f" ] && { xz -d -f "$f" 2>/dev/null ||
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[1][:-3], "wb"))' "$f"; } &&
    chmod +x "${f%.xz}"
done
