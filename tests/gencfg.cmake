# SPDX-License-Identifier: Apache-2.0
# The generation config (core/gencfg.c):
#   gencfg_ref  generation_config.json written by `ptm convert` against
#               transformers 4.37's GenerationConfig rules re-implemented in
#               Python (tests/reference/gencfg_ref.py): loaded files (unknown
#               keys kept), derived ones (from_model_config), eos lists,
#               damaged files; and `ptm generate` stopping where the
#               generation config says on the bundled model's PyTorch greedy
#               continuation (models/gpt2-kjv/expected_greedy.json)
add_test(NAME gencfg_ref
  COMMAND ${PTM_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/gencfg_ref.py $<TARGET_FILE:ptm_cli>
          ${CMAKE_SOURCE_DIR}/models/gpt2-kjv ${PTM_TEST_TMP}/gencfg_ref)
set_tests_properties(gencfg_ref PROPERTIES ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "reference;gpt2")
#   test_gencfg  (tests/unit/test_gencfg.c) the C API on the bundled model:
#               ptm_model_generation_config, ptm_generate_options_from_model,
#               use_generation_config, pad_token_id, errors naming the file
target_compile_definitions(test_gencfg PRIVATE PTM_BUNDLED_MODEL="${CMAKE_SOURCE_DIR}/models/gpt2-kjv")
