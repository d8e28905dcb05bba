# SPDX-License-Identifier: Apache-2.0
# The Flax msgpack format plugin's tests beyond tests/unit/test_msgpack.c:
#   msgpack_e2e   tests/msgpack_e2e.sh: checkpoints written by Python msgpack in
#                 the flax layout (tests/reference/msgpack_ref.py) through
#                 `ptm run/convert/info/generate --from-flax`, compared with the
#                 plain-PyTorch GPT-2 of gpt2_ref.py; ptm's msgpack files read
#                 back by Python msgpack; casts with a mask; hostile files.
if(NOT TARGET msgpack)
  return()
endif()
if(TARGET test_msgpack)
  add_dependencies(test_msgpack msgpack)
  if(TARGET gpt2)
    add_dependencies(test_msgpack gpt2)
  endif()
endif()
add_test(NAME msgpack_e2e
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/msgpack_e2e.sh $<TARGET_FILE:ptm_cli> ${PTM_TEST_PYTHON}
          ${PTM_TEST_TMP}/msgpack_e2e ${CMAKE_CURRENT_SOURCE_DIR}/reference/msgpack_ref.py)
set_tests_properties(msgpack_e2e PROPERTIES ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "reference;msgpack")
