# SPDX-License-Identifier: Apache-2.0
# The pytorch format plugin's tests beyond tests/unit/test_pytorch.c.  The
# Python scripts check the plugin against real torch (Debian's python3-torch)
# with test_pytorch as their driver:
#   pytorch_ref_c_reads   torch.save writes files (dtypes, shared storages,
#                         views, OrderedDict with _metadata, > 64 tensors,
#                         zip64, legacy/TorchScript/LFS refusals) and hostile
#                         archives; C reads them or refuses them
#   pytorch_ref_c_writes  C writes files, torch.load(weights_only=True) reads
#                         them (values by formula, tied storages shared)
#   pytorch_e2e           ptm info/run/generate/convert on a GPT-2 folder
#                         holding only pytorch_model.bin (or its shards)
if(TARGET test_pytorch)
  add_dependencies(test_pytorch pytorch safetensors)
  foreach(script c_reads c_writes)
    add_test(NAME pytorch_ref_${script}
      COMMAND ${PTM_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/pytorch_${script}.py
              $<TARGET_FILE:test_pytorch> ${PTM_TEST_TMP}/pytorch_${script}
      WORKING_DIRECTORY ${PTM_TEST_TMP})
    set_tests_properties(pytorch_ref_${script} PROPERTIES
      ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "reference;pytorch")
  endforeach()
  add_test(NAME pytorch_e2e
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/pytorch_e2e.sh $<TARGET_FILE:ptm_cli> ${PTM_TEST_PYTHON}
            ${PTM_TEST_TMP}/pytorch_e2e ${CMAKE_CURRENT_SOURCE_DIR}/reference/pytorch_gpt2.py)
  set_tests_properties(pytorch_e2e PROPERTIES ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "reference;pytorch")
endif()
