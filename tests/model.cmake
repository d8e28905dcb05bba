# SPDX-License-Identifier: Apache-2.0
# Model loading/saving tests against fixtures written by the independent
# Python reference (tests/reference/tiny_model.py), and CLI end-to-end tests.
set(PTM_FIXTURES ${PTM_TEST_TMP}/fixtures)
add_test(NAME model_fixtures
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/make_fixtures.sh ${PTM_TEST_PYTHON} ${CMAKE_SOURCE_DIR} ${PTM_FIXTURES})
set_tests_properties(model_fixtures PROPERTIES FIXTURES_SETUP tiny_fixtures)
target_compile_definitions(test_model PRIVATE PTM_FIXTURES="${PTM_FIXTURES}")
set_tests_properties(test_model PROPERTIES FIXTURES_REQUIRED tiny_fixtures)

add_test(NAME cli_end_to_end
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_test.sh $<TARGET_FILE:ptm_cli> ${PTM_TEST_PYTHON}
          ${CMAKE_SOURCE_DIR} ${PTM_FIXTURES} ${PTM_TEST_TMP}/cli)
set_tests_properties(cli_end_to_end PROPERTIES FIXTURES_REQUIRED tiny_fixtures)
