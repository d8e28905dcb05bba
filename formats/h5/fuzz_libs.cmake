# SPDX-License-Identifier: Apache-2.0
# Included by tests/fuzz/CMakeLists.txt for the fuzz_h5 target (`${name}`):
# the reader is our own HDF5 parser, so the target is built without libhdf5
# (H5P_READER_ONLY leaves the libhdf5 writer out).
target_compile_definitions(${name} PRIVATE H5P_READER_ONLY=1)
# Checksums are not verified in the fuzz build, so mutations reach what they
# protect (tests/reference/h5_subset_ref.py checks the checksum refusals).
target_compile_definitions(${name} PRIVATE H5F_FUZZ_SKIP_CHECKSUMS=1)
