# SPDX-License-Identifier: Apache-2.0
# GPT-2 correctness against PyTorch: tests/reference/gpt2_ref.py (a GPT-2 in
# plain PyTorch following transformers 4.37) writes tiny random models and
# the outputs torch computed from them; tests/unit/test_gpt2.c loads them
# through the gpt2 plugin and the cpu backend and compares.
#   gpt2_ref_selftest  the reference itself against an independent float64
#                      numpy GPT-2, masking/position-id properties, the writer
#   gpt2_fixtures      writes the fixtures (FIXTURES_SETUP gpt2_fixtures)
# Both need /usr/bin/python3 with torch (Debian python3-torch) and numpy.
# A missing torch FAILS them (exit 2, saying what to install), it never skips:
# without them test_gpt2 has nothing to compare against.
set(PTM_GPT2_FIXTURES ${PTM_TEST_TMP}/gpt2)
set(PTM_GPT2_REF ${CMAKE_CURRENT_SOURCE_DIR}/reference/gpt2_ref.py)

add_test(NAME gpt2_ref_selftest COMMAND ${PTM_TEST_PYTHON} ${PTM_GPT2_REF} selftest
  WORKING_DIRECTORY ${PTM_TEST_TMP})
add_test(NAME gpt2_fixtures
  COMMAND ${PTM_TEST_PYTHON} ${PTM_GPT2_REF} make ${PTM_GPT2_FIXTURES}
  WORKING_DIRECTORY ${PTM_TEST_TMP})
set_tests_properties(gpt2_ref_selftest gpt2_fixtures PROPERTIES
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1;OMP_NUM_THREADS=1" LABELS "reference;gpt2")
set_tests_properties(gpt2_fixtures PROPERTIES FIXTURES_SETUP gpt2_fixtures)

target_compile_definitions(test_gpt2 PRIVATE PTM_GPT2_FIXTURES="${PTM_GPT2_FIXTURES}")
set_tests_properties(test_gpt2 PROPERTIES FIXTURES_REQUIRED gpt2_fixtures LABELS "gpt2")
# the plugins the test loads from the build tree
foreach(plugin gpt2 cpu safetensors)
  if(TARGET ${plugin})
    add_dependencies(test_gpt2 ${plugin})
  endif()
endforeach()
