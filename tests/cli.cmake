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
vdit_cli_test(formats "gaussian +nvfp4 .*outlier +mxfp4" formats --size 65536)
vdit_cli_test(formats_json "\"results\": *\\[.*\"format\": *\"mxfp8_e4m3\".*\"snr_db\"" formats --json --size 65536)
vdit_cli_test(formats_help "usage: vdit formats" formats --help)
vdit_cli_test_fails(formats_bad_device "--device must be cpu or cuda, got 'tpu'" formats --device tpu)
vdit_cli_test_fails(formats_bad_size "--size must be a multiple of --cols" formats --size 1000)
