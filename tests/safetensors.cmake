# SPDX-License-Identifier: Apache-2.0
# The safetensors format plugin's tests beyond tests/unit/test_safetensors.c:
# st_tool (tests/tools/st_tool.c) drives the plugin through the context API,
# and the Python scripts in tests/reference/ check it against an independent
# writer and reader (safetensors_ref.py, numpy only):
#   safetensors_ref_c_reads   Python writes files, C reads them (and refuses
#                             malformed ones with the right status/message)
#   safetensors_ref_c_writes  C writes files, Python parses them byte for byte
add_executable(st_tool ${CMAKE_CURRENT_SOURCE_DIR}/tools/st_tool.c)
target_link_libraries(st_tool PRIVATE ptm)
target_compile_definitions(st_tool PRIVATE PTM_BUILD_PLUGIN_DIR="${PTM_PLUGIN_BUILD_DIR}")
set_target_properties(st_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
add_dependencies(st_tool safetensors)
if(TARGET test_safetensors)
  add_dependencies(test_safetensors safetensors)
endif()

foreach(script c_reads c_writes)
  add_test(NAME safetensors_ref_${script}
    COMMAND ${PTM_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/safetensors_${script}.py
            $<TARGET_FILE:st_tool> ${PTM_TEST_TMP}/safetensors_${script}
    WORKING_DIRECTORY ${PTM_TEST_TMP})
  set_tests_properties(safetensors_ref_${script} PROPERTIES
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "reference;safetensors")
endforeach()
