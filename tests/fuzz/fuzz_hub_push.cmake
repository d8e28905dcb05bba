# SPDX-License-Identifier: Apache-2.0
# fuzz_hub_push links push_to_hub's core-private parsers (server answers,
# README.md merging) and what they use directly.
target_sources(${name} PRIVATE ${CMAKE_SOURCE_DIR}/core/hub/hub_push_parse.c ${CMAKE_SOURCE_DIR}/core/hub/model_card.c
               ${CMAKE_SOURCE_DIR}/core/hub/hub_http.c ${CMAKE_SOURCE_DIR}/core/hub/hub_util.c
               ${CMAKE_SOURCE_DIR}/core/hub/hub_parse.c ${CMAKE_SOURCE_DIR}/core/util.c)
target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/core ${CMAKE_SOURCE_DIR}/core/hub)
target_link_libraries(${name} PRIVATE PkgConfig::CJSON PkgConfig::CURL PkgConfig::CRYPTO Threads::Threads)
