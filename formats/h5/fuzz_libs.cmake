# SPDX-License-Identifier: Apache-2.0
# Included by tests/fuzz/CMakeLists.txt for the fuzz_h5 target (`${name}`):
# the plugin sources compiled into it need libhdf5 and pthreads.
include(${CMAKE_SOURCE_DIR}/formats/h5/hdf5.cmake)
if(NOT PTM_HDF5_FOUND)
  message(FATAL_ERROR "fuzz_h5 needs the HDF5 C library (libhdf5-dev)")
endif()
find_package(Threads REQUIRED)
target_include_directories(${name} SYSTEM PRIVATE ${PTM_HDF5_INCLUDE_DIRS})
target_link_libraries(${name} PRIVATE ${PTM_HDF5_LIBRARIES} Threads::Threads)
