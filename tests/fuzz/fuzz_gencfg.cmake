# SPDX-License-Identifier: Apache-2.0
# fuzz_gencfg links the core-private generation-config code and the config
# parser/writer it uses (core/gencfg.c, core/config.c, core/util.c) directly.
target_sources(${name} PRIVATE ${CMAKE_SOURCE_DIR}/core/gencfg.c ${CMAKE_SOURCE_DIR}/core/config.c
               ${CMAKE_SOURCE_DIR}/core/util.c)
target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/core)
target_link_libraries(${name} PRIVATE PkgConfig::CJSON)
