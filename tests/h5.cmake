# SPDX-License-Identifier: Apache-2.0
# The h5 (TF/Keras) format plugin's tests beyond tests/unit/test_h5.c:
# tests/reference/h5_ref.py writes files with h5py in the Keras layout
# transformers produces and checks ptm against them and against torch:
#   h5_ref_gpt2     TF GPT-2 (Keras layout, chunked and variable-length name
#                   attributes, sharded TF h5) -> ptm run/convert --from-tf,
#                   logits vs the torch reference; ptm's h5 read back by h5py
#   h5_ref_names    generic name/layout mapping (dense kernels, conv2d,
#                   mlm___cls, gamma/beta, embeddings) via `test_h5 dump`
#   h5_ref_hostile  external links, external storage, virtual datasets,
#                   wrong sizes, truncation, huge attributes: exit 1, a
#                   message naming the file and the object, never a crash
#   h5_subset_ref_subset   ptm's own HDF5 reader on every layout h5py writes
#                   (superblock v0/v3, v1/v2 object headers, symbol tables,
#                   dense links/attributes, vlen strings, big-endian, user
#                   blocks, compact data, cycles) vs numpy
#   h5_subset_ref_damaged  truncated / byte-flipped files, bad checksums,
#                   cycles, overlong attributes, absurd dimensions: exit 1
#                   naming the file and the object, never a crash
# Skipped (77) when the plugin was not built (no libhdf5).
if(TARGET test_h5)
  set_tests_properties(test_h5 PROPERTIES SKIP_RETURN_CODE 77 LABELS h5)
  if(TARGET h5)
    add_dependencies(test_h5 h5)
  endif()
endif()
foreach(part gpt2 names hostile)
  add_test(NAME h5_ref_${part}
    COMMAND ${PTM_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/h5_ref.py ${part}
            $<TARGET_FILE:ptm_cli> $<TARGET_FILE:test_h5> ${PTM_TEST_TMP}/h5_ref_${part})
  set_tests_properties(h5_ref_${part} PROPERTIES SKIP_RETURN_CODE 77
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "reference;h5")
endforeach()
foreach(part subset damaged)
  add_test(NAME h5_subset_ref_${part}
    COMMAND ${PTM_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/h5_subset_ref.py ${part}
            $<TARGET_FILE:test_h5> ${PTM_TEST_TMP}/h5_subset_ref_${part})
  set_tests_properties(h5_subset_ref_${part} PROPERTIES SKIP_RETURN_CODE 77
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "reference;h5")
endforeach()
