# SPDX-License-Identifier: Apache-2.0
# The bundled model against the PyTorch outputs its training script recorded.
add_test(NAME bundled_model
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/bundled_test.sh $<TARGET_FILE:ptm_cli> ${PTM_TEST_PYTHON}
          ${CMAKE_SOURCE_DIR} ${PTM_TEST_TMP}/bundled)
set_tests_properties(bundled_model PROPERTIES LABELS "gpt2")
