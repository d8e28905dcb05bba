# SPDX-License-Identifier: Apache-2.0
# `ptm run` / `ptm generate` end to end on tiny random GPT-2 folders written
# by the test script with numpy, results checked by a numpy GPT-2.
add_test(NAME gpt2_cli
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/gpt2_cli_test.sh $<TARGET_FILE:ptm_cli> ${PTM_TEST_PYTHON}
          ${PTM_TEST_TMP}/gpt2_cli)
