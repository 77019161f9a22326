# Sourced by the bench scripts: bench_build_cli BUILD_DIR OUT_DIR [always]
# configures and builds the `vdit` command (Release, -Werror) into BUILD_DIR, logs in OUT_DIR;
# without "always" an existing BUILD_DIR/vdit is kept. Returns non-zero (with the log's tail or
# its errors on stdout) when configure or build fails.
bench_build_cli() {
  local build="$1" out="$2" always="${3:-}"
  if [ -z "$always" ] && [ -x "$build/vdit" ]; then return 0; fi
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$out/bench-configure.log" 2>&1 ||
    { tail -20 "$out/bench-configure.log"; return 1; }
  cmake --build "$build" -j"$(nproc)" --target vdit_cli > "$out/bench-build.log" 2>&1 ||
    { grep -E "error" "$out/bench-build.log" | head -20; return 1; }
}
