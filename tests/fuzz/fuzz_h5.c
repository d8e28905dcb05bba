/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_h5.c - libFuzzer target for the TF/Keras h5 plugin.
 *
 * libhdf5 is not instrumented (only the plugin's sources are), and the
 * plugin opens files by name, so each input is written to a temporary file
 * (on /dev/shm when there is one) and opened with the plugin.  A refused
 * input must give a status and a message naming the file.  An accepted one
 * must load every tensor (all bytes are read, so ASan sees any out-of-bounds
 * view); then the tensors are saved (the writer may refuse a name it cannot
 * keep, with PTM_ERR_UNSUPPORTED, nothing else), and the saved file must
 * open again with the same names, dtypes, shapes and bytes. */
#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

static void setup(void) { fz_setup("fuzz_h5", "h5", "fuzz_h5", ".h5"); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fmt)
        setup();
    write_file(in_path, data, size);
    int score = fmt->probe(in_path, data, size < 64 ? size : 64);
    if (score < 0 || score > 100)
        die("probe out of range");

    void *src = NULL;
    ptm_clear_error();
    ptm_state_dict *sd = fz_load_all(in_path, "backend", 1, 0, &src);
    if (!sd) {
        if (!strstr(ptm_last_error(), in_path))
            die("an error message does not name the file");
        return 0;
    }
    fmt->close(src); /* tensors stay valid */

    ptm_status st = fmt->save(out_path, sd, NULL);
    if (st == PTM_ERR_UNSUPPORTED) { /* a name h5 cannot keep: refused, fine */
        ptm_state_dict_free(sd);
        return 0;
    }
    if (st != PTM_OK)
        die("saving an accepted file failed");
    void *src2 = NULL;
    ptm_state_dict *sd2 = fz_load_all(out_path, "backend", 1, 0, &src2);
    if (!sd2)
        die("the saved file does not open");
    if (ptm_state_dict_size(sd2) != ptm_state_dict_size(sd))
        die("round trip changed the tensor count");
    for (size_t i = 0; i < ptm_state_dict_size(sd2); i++) {
        const ptm_tensor *a = ptm_state_dict_tensor(sd2, i);
        const ptm_tensor *b = ptm_state_dict_get(sd, ptm_state_dict_name(sd2, i));
        if (!b || ptm_tensor_dtype(a) != ptm_tensor_dtype(b) || ptm_tensor_ndim(a) != ptm_tensor_ndim(b) ||
            ptm_tensor_nbytes(a) != ptm_tensor_nbytes(b) ||
            (ptm_tensor_nbytes(a) && memcmp(ptm_tensor_data(a), ptm_tensor_data(b), ptm_tensor_nbytes(a)) != 0))
            die("round trip changed a tensor");
        for (int d = 0; d < ptm_tensor_ndim(a); d++)
            if (ptm_tensor_dim(a, d) != ptm_tensor_dim(b, d))
                die("round trip changed a shape");
    }
    fmt->close(src2);
    ptm_state_dict_free(sd2);
    ptm_state_dict_free(sd);
    return 0;
}
