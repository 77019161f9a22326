# Sourced by the cluster device scripts that run binaries built off the device
# (attn_cluster_round1[45]_*.sh): the repository root as the working directory, $out (OUT, default
# bench-out), $start (seconds), and BINS (default bins.tgz: vdit and the cluster GPU tests, Release
# sm_90a) unpacked into build-gpu/, the tests under build-gpu/tests/.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-bench-out}"
mkdir -p "$out" build-gpu/tests
start=$(date +%s)
tar xzf "${BINS:-bins.tgz}" -C build-gpu && mv build-gpu/test_attn_cluster_*gpu build-gpu/tests/
