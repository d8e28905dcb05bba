# SPDX-License-Identifier: Apache-2.0
# The core's device-memory path (resident parameters, uploads, downloads,
# CPU fallback with staging) on the fakedev test backend, checked on the
# PyTorch-referenced GPT-2 fixtures against the cpu backend.
ptm_add_plugin(fakedev SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/plugins/fakedev/fakedev.c NO_INSTALL
  OUTPUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/plugins/fakedev)
target_compile_definitions(test_device PRIVATE PTM_GPT2_FIXTURES="${PTM_TEST_TMP}/gpt2"
  PTM_FAKEDEV_DIR="${CMAKE_CURRENT_BINARY_DIR}/plugins/fakedev")
add_dependencies(test_device fakedev)
set_tests_properties(test_device PROPERTIES FIXTURES_REQUIRED gpt2_fixtures LABELS "gpt2")
