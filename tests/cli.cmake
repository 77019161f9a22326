# Command-line tests: exit codes and the one-line errors a user sees.
function(vdit_cli_test name regex)
  add_test(NAME cli_${name} COMMAND $<TARGET_FILE:vdit_cli> ${ARGN})
  set_tests_properties(cli_${name} PROPERTIES LABELS cpu PASS_REGULAR_EXPRESSION "${regex}")
endfunction()
function(vdit_cli_test_fails name regex)
  # A failing command must exit non-zero and say why in one line.
  add_test(NAME cli_${name} COMMAND ${CMAKE_COMMAND} -DVDIT=$<TARGET_FILE:vdit_cli>
           "-DARGS=${ARGN}" "-DREGEX=${regex}" -P ${CMAKE_CURRENT_SOURCE_DIR}/cli_expect_failure.cmake)
  set_tests_properties(cli_${name} PROPERTIES LABELS cpu)
endfunction()

vdit_cli_test(help "usage: vdit <command>" --help)
vdit_cli_test(info "vdit [0-9]+\\.[0-9]+\\.[0-9]+.*threads" info)
vdit_cli_test(info_json "\"version\": *\"[0-9.]+\".*\"gpus\": *\\[" info --json)
vdit_cli_test(info_help "usage: vdit info" info --help)
vdit_cli_test_fails(unknown_command "unknown command 'inf'.*did you mean 'info'" inf)
vdit_cli_test_fails(unknown_option "unknown option '--jsn'.*did you mean '--json'" info --jsn)

# vdit inspect on a file written by the reference safetensors implementation
# (tools/make_safetensors_fixtures.py) and on the same file cut short.
set(VDIT_ST_DATA ${CMAKE_CURRENT_SOURCE_DIR}/data/safetensors)
vdit_cli_test(help_lists_inspect "inspect +list the tensors" --help)
vdit_cli_test(inspect "\nstep +I64 +\\[\\] +1 +8\nblocks\\.0\\.weight +F32 +\\[2, 3\\] +6 +24\n.*6 tensors: 18 parameters, 50 bytes"
              inspect ${VDIT_ST_DATA}/small.safetensors)
vdit_cli_test(inspect_metadata "metadata: .*format = np" inspect ${VDIT_ST_DATA}/small.safetensors)
vdit_cli_test(inspect_json "\"shape\": \\[2, 3\\].*\"tensor_count\": 6, \"parameter_count\": 18, \"data_bytes\": 50}"
              inspect ${VDIT_ST_DATA}/small.safetensors --json)
vdit_cli_test(inspect_filter "2 of 6 tensors match 'blocks': 9 parameters, 30 bytes"
              inspect ${VDIT_ST_DATA}/small.safetensors --filter blocks)
vdit_cli_test(inspect_help "usage: vdit inspect FILE.safetensors" inspect --help)
vdit_cli_test_fails(inspect_truncated
  "^vdit inspect: corrupt file: [^\n]*truncated\\.safetensors: tensor 'ids': data_offsets \\[38, 46\\] run past the data section"
  inspect ${VDIT_ST_DATA}/truncated.safetensors)
vdit_cli_test_fails(inspect_missing_file "^vdit inspect: i/o error: cannot open [^\n]*: No such file.*check the path"
                    inspect ${VDIT_ST_DATA}/no-such-file.safetensors)
vdit_cli_test_fails(inspect_folder "^vdit inspect: i/o error: [^\n]* is not a regular file" inspect ${VDIT_ST_DATA})
vdit_cli_test_fails(inspect_no_file "^vdit inspect: missing the FILE\\.safetensors argument \\(see 'vdit inspect --help'\\)"
                    inspect)
vdit_cli_test_fails(inspect_two_files "unexpected argument" inspect a.safetensors b.safetensors)
vdit_cli_test_fails(inspect_unknown_option "unknown option '--jsn'.*did you mean '--json'"
                    inspect ${VDIT_ST_DATA}/small.safetensors --jsn)

# vdit attn check|bench
vdit_cli_test(attn_check "result: pass" attn check --seq 100 --seq-k 130 --mask causal --layout bhsd)
vdit_cli_test(attn_check_json "\"o\": {\"rel_l1\": [0-9.e-]+, \"cos\": .*\"dv\": {.*\"passed\": true" attn check --seq 64 --dtype fp16 --inputs outlier --json)
vdit_cli_test(attn_bench_json "\"fwd\": {\"ms\": [0-9.]+, \"tflops\": [0-9.]+}, \"bwd\": {\"ms\"" attn bench --seq 128 --repeat 2 --warmup 0 --json)
vdit_cli_test(attn_help "usage: vdit attn check" attn check --help)
vdit_cli_test_fails(attn_bad_mask "--mask block:N needs a block length N >= 1" attn check --mask block:0)
vdit_cli_test_fails(attn_bad_method "unknown attention method 'sparse'" attn check --method sparse)
vdit_cli_test_fails(attn_bad_dim "--dim must be in 1..256" attn check --dim 300)
vdit_cli_test_fails(attn_unknown_subcommand "unknown subcommand 'chek'.*did you mean 'check'" attn chek)
# fp32 on CUDA: no device without a GPU, unsupported (bf16, f16 only) with one
vdit_cli_test_fails(attn_cuda_unavailable "attn check: (no device|unsupported)" attn check --device cuda --dtype fp32)
vdit_cli_test_fails(attn_cuda_bench_unavailable "attn bench: (no device|unsupported)" attn bench --device cuda --dtype fp32)
# vdit bench attn: the issue's spelling of vdit attn bench
vdit_cli_test(bench_attn_json "\"method\": \"dense\", \"shape\": .*\"fwd\": {\"ms\": [0-9.]+, \"tflops\": [0-9.]+}, \"bwd\": {\"ms\""
              bench attn --method dense --seq 96 --repeat 2 --warmup 0 --json)
vdit_cli_test(bench_attn_text "forward +[0-9.]+ ms +[0-9.]+ TFLOP/s\nbackward" bench attn --seq 64 --repeat 1 --warmup 0)
vdit_cli_test(bench_help "usage: vdit bench attn" bench --help)
vdit_cli_test(bench_attn_help "usage: vdit attn bench" bench attn --help)
vdit_cli_test(help_lists_bench "bench +benchmarks by target" --help)
vdit_cli_test_fails(bench_unknown_target "unknown target 'atn'.*did you mean 'attn'" bench atn)
vdit_cli_test_fails(bench_missing_target "missing the target: attn" bench)
vdit_cli_test_fails(bench_attn_bad_option "unknown option '--sq'.*did you mean '--seq'" bench attn --sq 64)
vdit_cli_test(formats "gaussian +nvfp4 .*outlier +mxfp4" formats --size 65536)
vdit_cli_test(formats_json "\"results\": *\\[.*\"format\": *\"mxfp8_e4m3\".*\"snr_db\"" formats --json --size 65536)
vdit_cli_test(formats_help "usage: vdit formats" formats --help)
vdit_cli_test_fails(formats_bad_device "--device must be cpu or cuda, got 'tpu'" formats --device tpu)
vdit_cli_test_fails(formats_bad_size "--size must be a multiple of --cols" formats --size 1000)

# vdit inspect: the Wan2.1 model config a checkpoint implies (tests/data/wan_small)
set(VDIT_WAN_DATA ${CMAKE_CURRENT_SOURCE_DIR}/data/wan_small)
vdit_cli_test(inspect_model
  "model: Wan2\\.1 text-to-video transformer, diffusers names, 69 parameter tensors\n +dim 32 = 2 heads x 16, 2 layers, ffn 48, freq 16, text 24, 6 -> 4 channels, patch \\(1, 2, 2\\), eps 1e-06, qk_norm, cross_attn_norm\n +heads from config\\.json"
  inspect ${VDIT_WAN_DATA}/model_diffusers.safetensors --config ${VDIT_WAN_DATA}/config_diffusers.json)
vdit_cli_test(inspect_model_json
  "\"model\": {\"naming\": \"wan\", \"prefix\": \"\", \"dim\": 30, \"heads\": 3, \"head_dim\": 10, \"heads_from\": \"config\", \"layers\": 1, .*\"patch_size\": \\[2, 1, 2\\]"
  inspect ${VDIT_WAN_DATA}/patch212/model_wan.safetensors --config ${VDIT_WAN_DATA}/patch212/config_wan.json --json)
vdit_cli_test(inspect_model_no_config "model: not a loadable Wan2\\.1 transformer: [^\n]*cannot tell the number of heads: dim 32"
              inspect ${VDIT_WAN_DATA}/model_wan.safetensors)
vdit_cli_test(inspect_not_a_model "model: not a loadable Wan2\\.1 transformer: [^\n]*is not a Wan2\\.1 transformer checkpoint"
              inspect ${VDIT_ST_DATA}/small.safetensors)
vdit_cli_test(inspect_not_a_model_json "\"model\": null, \"model_error\": \"[^\"]*is not a Wan2\\.1 transformer checkpoint"
              inspect ${VDIT_ST_DATA}/small.safetensors --json)
vdit_cli_test_fails(inspect_model_bad_config "^vdit inspect: i/o error: cannot open [^\n]*no-config\\.json"
                    inspect ${VDIT_WAN_DATA}/model_wan.safetensors --config ${VDIT_WAN_DATA}/no-config.json)

# vdit ops bench
vdit_cli_test(ops_bench "ops bench: linear f32 on the CPU.*forward .* GFLOP/s.*dweight" ops bench --tokens 33 --in 7 --out 130 --repeat 2)
vdit_cli_test(ops_bench_json "\"forward\": {\"ms\": [0-9.]+, \"gflops\": [0-9.]+, \"best_ms\": [0-9.]+, \"best_gflops\": [0-9.]+}.*\"dweight\"" ops bench --tokens 64 --repeat 1 --warmup 0 --json)
vdit_cli_test(ops_help "usage: vdit ops bench" ops bench --help)
vdit_cli_test_fails(ops_bad_size "--tokens, --in and --out must be in 1..65536" ops bench --in 0)
vdit_cli_test_fails(ops_unknown_subcommand "unknown subcommand 'bensh'.*did you mean 'bench'" ops bensh)

# vdit shield: refresh policies on the synthetic attention trace (small sizes for speed)
vdit_cli_test(shield_help "usage: vdit shield.*Model-driven lifetimes" shield --help)
vdit_cli_test(help_lists_shield "shield +eDRAM refresh policies" --help)
vdit_cli_test(shield_text "\nstandard +[0-9.e+]+ +0\\.00% +[0-9.e+]+ +0 +0 +0 +0 +0 +0\nshield +[0-9.e+]+ +[1-9][0-9]\\.[0-9]+% +[0-9.e+]+ +0 "
              shield --tokens 64 --dim 64 --layers 4 --tops 0.1)
vdit_cli_test(shield_json "\"policy\": \"shield\", .*\"refresh_saving\": 0\\.[3-4][0-9]*, .*\"failed_bits\": {\"sign_exponent\": 0, "
              shield --tokens 64 --dim 64 --layers 4 --tops 0.1 --json)
vdit_cli_test(shield_custom_json "\"policies\": \\[{\"policy\": \"custom\", \"intervals_us\": {\"transient\": {\"sign_exponent\": 0, .*\"failed_bits\": {\"sign_exponent\": [1-9][0-9]*, "
              shield --policy custom --transient-exp-us 0 --tops 0.001 --tokens 64 --dim 64 --layers 2 --json)
vdit_cli_test_fails(shield_bad_policy "unknown policy 'sheild'.*did you mean 'shield'" shield --policy sheild)
vdit_cli_test_fails(shield_bad_size "--tokens and --dim must be in 1\\.\\.65536" shield --tokens 0)
vdit_cli_test_fails(shield_bad_vrt "vrt_fraction must be in \\[0, 1\\]" shield --vrt 2 --tokens 8 --dim 8)
vdit_cli_test_fails(shield_bad_interval "custom refresh intervals must be >= 0 us" shield --policy custom --persistent-mantissa-us -3)

# vdit kbench
set(VDIT_KBENCH_ADV ${CMAKE_CURRENT_SOURCE_DIR}/kbench/adversarial)
vdit_cli_test(kbench_list "attention_rope +Fusion +5 +tolerance.*\n1[0-9][0-9] tasks in 15 categories" kbench list)
vdit_cli_test(kbench_list_category "quant_nvfp4 +Quantization.*\n13 tasks in 1 categories" kbench list --category Quantization)
vdit_cli_test(kbench_help "usage: vdit kbench run" kbench run --help)
vdit_cli_test(kbench_run_reference "relu +Activation +pass +[0-9.e-]+ ms vs baseline.*1 of 1 attempted tasks correct"
              kbench run --method ${PROJECT_BINARY_DIR}/kbench/reference --device cpu --out ${CMAKE_CURRENT_BINARY_DIR}/kbench_cli
              --tasks relu --standard-timing --warmup-ms 1)
vdit_cli_test(kbench_run_stale "relu +Activation +stale_output +shape 0 trial 1.*0 of 1 attempted"
              kbench run --method ${VDIT_KBENCH_ADV}/stale --device cpu --out ${CMAKE_CURRENT_BINARY_DIR}/kbench_cli_stale
              --tasks relu --no-timing)
vdit_cli_test_fails(kbench_no_method "^vdit kbench run: missing --method DIR" kbench run --out x)
vdit_cli_test_fails(kbench_bad_device "--device must be cpu or cuda" kbench run --method x --out y --device tpu)
vdit_cli_test_fails(kbench_bad_task "'reluu' is neither a task nor a category"
                    kbench run --method ${VDIT_KBENCH_ADV}/stale --out ${CMAKE_CURRENT_BINARY_DIR}/kbench_cli_bad --tasks reluu)
vdit_cli_test_fails(kbench_missing_folder "method folder /nonexistent not found" kbench run --method /nonexistent --out x)
vdit_cli_test_fails(kbench_bad_category "unknown category 'Maths'.*did you mean 'Math'" kbench list --category Maths)
vdit_cli_test_fails(kbench_unknown_subcommand "unknown subcommand 'rn'.*did you mean 'run'" kbench rn)
vdit_cli_test_fails(kbench_report_missing "kbench report: i/o error: .*cannot open /nonexistent/results.jsonl" kbench report /nonexistent)
vdit_cli_test_fails(kbench_few_trials "--trials must be in 5..1000" kbench run --method x --out y --trials 3)
