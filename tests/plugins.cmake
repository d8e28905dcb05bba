# SPDX-License-Identifier: Apache-2.0
# Test plugins for the loader (tests/unit/test_loader.c), built as MODULEs
# into ${CMAKE_CURRENT_BINARY_DIR}/plugins/<dir>/ (PTM_TEST_PLUGIN_DIR), never
# into the build tree's real plugin folder, and never installed:
#   loader-good/    testbackend (backend), testformats (2 formats + an arch)
#   loader-shadow/  testshadow: claims names testformats also claims
#   loader-broken/  one plugin per refusal reason, plus notaplugin.so (text)
set(PTM_LOADER_PLUGIN_SRC ${CMAKE_CURRENT_SOURCE_DIR}/plugins/broken)
set(PTM_LOADER_PLUGIN_OUT ${CMAKE_CURRENT_BINARY_DIR}/plugins)

set(ptm_loader_test_plugins)
function(ptm_loader_test_plugin name src dir)
  ptm_add_plugin(${name} SOURCES ${PTM_LOADER_PLUGIN_SRC}/${src} NO_INSTALL
    OUTPUT_DIR ${PTM_LOADER_PLUGIN_OUT}/${dir})
  set(ptm_loader_test_plugins ${ptm_loader_test_plugins} ${name} PARENT_SCOPE)
endfunction()

ptm_loader_test_plugin(ptmtest_backend good_backend.c loader-good)
ptm_loader_test_plugin(ptmtest_formats good_formats.c loader-good)
ptm_loader_test_plugin(ptmtest_shadow shadow.c loader-shadow)
ptm_loader_test_plugin(ptmtest_noentry noentry.c loader-broken)
ptm_loader_test_plugin(ptmtest_abimajor abimajor.c loader-broken)
ptm_loader_test_plugin(ptmtest_abinewer abinewer.c loader-broken)
ptm_loader_test_plugin(ptmtest_initfail initfail.c loader-broken)
ptm_loader_test_plugin(ptmtest_nulldesc nulldesc.c loader-broken)
ptm_loader_test_plugin(ptmtest_smalldesc smalldesc.c loader-broken)
ptm_loader_test_plugin(ptmtest_badvtable badvtable.c loader-broken)

# A file that is named like a plugin but is not a shared object, copied at
# build time so it lives beside the broken plugins.
set(ptm_notaplugin_src ${CMAKE_CURRENT_BINARY_DIR}/notaplugin.txt)
file(WRITE ${ptm_notaplugin_src} "this text file is not a shared object\n")
set(ptm_notaplugin ${PTM_LOADER_PLUGIN_OUT}/loader-broken/notaplugin.so)
add_custom_command(OUTPUT ${ptm_notaplugin}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PTM_LOADER_PLUGIN_OUT}/loader-broken
  COMMAND ${CMAKE_COMMAND} -E copy ${ptm_notaplugin_src} ${ptm_notaplugin}
  DEPENDS ${ptm_notaplugin_src}
  VERBATIM)
add_custom_target(ptmtest_notaplugin ALL DEPENDS ${ptm_notaplugin})

if(TARGET test_loader)
  add_dependencies(test_loader ${ptm_loader_test_plugins} ptmtest_notaplugin)
endif()
