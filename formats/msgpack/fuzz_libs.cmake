# SPDX-License-Identifier: Apache-2.0
# Included by tests/fuzz/CMakeLists.txt for the fuzz_msgpack target (`${name}`):
# the plugin sources compiled into it need msgpack-c.
find_path(PTM_MSGPACK_INCLUDE_DIR msgpack.h REQUIRED)
find_library(PTM_MSGPACK_LIBRARY NAMES msgpackc msgpack-c REQUIRED)
target_include_directories(${name} PRIVATE ${PTM_MSGPACK_INCLUDE_DIR})
target_link_libraries(${name} PRIVATE ${PTM_MSGPACK_LIBRARY})
