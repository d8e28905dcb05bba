# SPDX-License-Identifier: Apache-2.0
# Sharded save_pretrained (core/shard.c, core/save.c):
#   shard_ref   `ptm convert --max-shard-size` against transformers 4.37's
#               shard_checkpoint re-implemented in Python
#               (tests/reference/shard_ref.py): file names, shard contents
#               (torch.load / the independent safetensors reader), the index
#               JSON byte for byte, reloading, stale-file removal, size strings
add_test(NAME shard_ref
  COMMAND ${PTM_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/shard_ref.py $<TARGET_FILE:ptm_cli>
          ${PTM_TEST_TMP}/shard_ref ${CMAKE_CURRENT_SOURCE_DIR}/reference/pytorch_gpt2.py)
set_tests_properties(shard_ref PROPERTIES ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "reference;shard")
