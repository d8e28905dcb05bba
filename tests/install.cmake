# SPDX-License-Identifier: Apache-2.0
# install_sdk: install this build into a temporary prefix, check the installed
# tree, and build and run the out-of-tree examples (sdk/examples) against that
# prefix only (find_package and pkg-config).  See tests/install_test.sh.
find_program(PTM_BASH bash)
if(PTM_BASH)
  set(ptm_install_test_cflags "")
  if(PTM_SANITIZE)
    # libptm and the ptm binary carry ASan/UBSan: the examples must too.
    set(ptm_install_test_cflags "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer")
  endif()
  add_test(NAME install_sdk
    COMMAND ${PTM_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/install_test.sh
      "--build-dir=${CMAKE_BINARY_DIR}"
      "--source-dir=${CMAKE_SOURCE_DIR}"
      "--work-dir=${PTM_TEST_TMP}/install-test"
      "--python=${PTM_TEST_PYTHON}"
      "--cc=${CMAKE_C_COMPILER}"
      "--cflags=${ptm_install_test_cflags}"
      "--generator=${CMAKE_GENERATOR}"
      "--make-program=${CMAKE_MAKE_PROGRAM}"
      "--config=$<CONFIG>")
  set_tests_properties(install_sdk PROPERTIES
    TIMEOUT 600
    SKIP_RETURN_CODE 77
    LABELS install)
endif()
