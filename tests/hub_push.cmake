# SPDX-License-Identifier: Apache-2.0
# push_to_hub (core/hub/hub_push*.c, core/hub/model_card.c).  Like
# tests/hub.cmake, the unit tests link the core-private sources directly.
#   test_model_card   README.md writer against hand-written cards
add_executable(test_model_card ${CMAKE_CURRENT_SOURCE_DIR}/hub/test_model_card.c
               ${CMAKE_SOURCE_DIR}/core/hub/model_card.c ${CMAKE_SOURCE_DIR}/core/util.c)
target_include_directories(test_model_card PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${CMAKE_SOURCE_DIR}/core
                           ${CMAKE_SOURCE_DIR}/core/hub)
target_link_libraries(test_model_card PRIVATE ptm)
set_target_properties(test_model_card PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
add_test(NAME test_model_card COMMAND test_model_card WORKING_DIRECTORY ${PTM_TEST_TMP})
#   hub_push_e2e      `ptm push` against tests/hub/server.py + upload.py on
#                     loopback (tests/hub/push_test.py): basic and multipart
#                     LFS, sharded and pytorch pushes, model card, existing
#                     repo, create_pr, branch, private, auth errors; files
#                     read back byte-identical to a local save_pretrained;
#                     the token never reaches storage or the output
add_test(NAME hub_push_e2e
  COMMAND ${PTM_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/hub/push_test.py $<TARGET_FILE:ptm_cli>
          ${CMAKE_SOURCE_DIR}/models/gpt2-kjv ${PTM_TEST_TMP}/hub_push_e2e)
set_tests_properties(hub_push_e2e PROPERTIES ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "hub;push" TIMEOUT 600)
