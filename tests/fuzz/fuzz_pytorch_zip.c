/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_pytorch_zip.c - libFuzzer target for the pytorch plugin's whole
 * reader (zip container, data.pkl interpreter, tensor loads).
 *
 * Each input is written to a temporary file and opened with the plugin.  A
 * refused input must give a status and a message naming the file.  An
 * accepted one must load every tensor (all bytes are read, so ASan sees any
 * out-of-bounds view); the tensors are then saved, and the saved file must
 * open again with the same names, dtypes, shapes and bytes. */
#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

static void setup(void) { fz_setup("fuzz_pytorch_zip", "pytorch", "fuzz_pt", ".bin"); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fmt)
        setup();
    ptm_state_dict *sd = fz_probe_and_load(data, size, NULL, 0, 1, NULL);
    if (!sd)
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < ptm_state_dict_size(sd); i++)
        total += ptm_tensor_nbytes(ptm_state_dict_tensor(sd, i));
    if (total < (64u << 20)) {
        if (fmt->save(out_path, sd, NULL) != PTM_OK)
            die("saving an accepted file failed");
        ptm_state_dict *sd2 = fz_load_all(out_path, NULL, 0, 1, NULL);
        if (!sd2)
            die("the saved file does not open");
        if (ptm_state_dict_size(sd2) != ptm_state_dict_size(sd))
            die("round trip changed the tensor count");
        fz_check_same(sd, sd2, 0);
        ptm_state_dict_free(sd2);
    }
    ptm_state_dict_free(sd);
    return 0;
}
