# SPDX-License-Identifier: Apache-2.0
# The Hub client (core/hub).  test_hub_http links the core-private hub
# sources directly (libptm hides them); the end-to-end tests run `ptm
# download` / `ptm info` against tests/hub/server.py on loopback.
file(GLOB ptm_hub_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/core/hub/hub_http.c
     ${CMAKE_SOURCE_DIR}/core/hub/hub_util.c ${CMAKE_SOURCE_DIR}/core/hub/hub_parse.c)
add_executable(test_hub_http ${CMAKE_CURRENT_SOURCE_DIR}/hub/test_hub_http.c ${ptm_hub_sources}
               ${CMAKE_SOURCE_DIR}/core/util.c)
target_include_directories(test_hub_http PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${CMAKE_SOURCE_DIR}/core
                           ${CMAKE_SOURCE_DIR}/core/hub)
target_compile_definitions(test_hub_http PRIVATE PTM_TEST_TMP="${PTM_TEST_TMP}")
target_link_libraries(test_hub_http PRIVATE ptm PkgConfig::CJSON PkgConfig::CURL PkgConfig::CRYPTO Threads::Threads)
set_target_properties(test_hub_http PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
add_test(NAME test_hub_http COMMAND test_hub_http WORKING_DIRECTORY ${PTM_TEST_TMP})

#   proxy        tests/hub/proxy.py between ptm and both ports (--proxy, http_proxy, no_proxy)
#   progress     the progress bar on a pty (pty.openpty), none on a pipe / when disabled
#   ratelimit    429 + Retry-After / RateLimit: the retry waits as asked (server timestamps)
#   run_convert  `ptm run REPO_ID` == `ptm run FOLDER`; `ptm convert REPO_ID OUT` read back
#                with tests/reference/safetensors_ref.py
foreach(case download auth errors python_cache resume corrupt timeout concurrent revisions generate proxy
             progress ratelimit run_convert)
  add_test(NAME hub_${case}
    COMMAND ${PTM_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/hub/test_hub.py $<TARGET_FILE:ptm_cli>
            ${PTM_TEST_TMP}/hub_${case} ${case})
endforeach()
add_test(NAME hub_http
  COMMAND ${PTM_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/hub/test_hub.py $<TARGET_FILE:test_hub_http>
          ${PTM_TEST_TMP}/hub_http http)
