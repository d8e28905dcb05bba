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
#   test_shard_index  the split and the index JSON against hand-worked
#               outputs (bool = 1/8 byte and a float total_size, escaping,
#               key order, oversized tensors); links core/shard.c directly
add_executable(test_shard_index ${CMAKE_CURRENT_SOURCE_DIR}/shard/test_shard_index.c
               ${CMAKE_SOURCE_DIR}/core/shard.c ${CMAKE_SOURCE_DIR}/core/util.c)
target_include_directories(test_shard_index PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${CMAKE_SOURCE_DIR}/core)
target_link_libraries(test_shard_index PRIVATE ptm)
set_target_properties(test_shard_index PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
add_test(NAME test_shard_index COMMAND test_shard_index WORKING_DIRECTORY ${PTM_TEST_TMP})
