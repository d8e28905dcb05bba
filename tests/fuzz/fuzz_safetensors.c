/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_safetensors.c - libFuzzer target for the safetensors plugin.
 *
 * Each input is written to a temporary file and opened with the plugin.  A
 * refused input must give a status and a message naming the file.  An
 * accepted one must load every tensor (all bytes are read, so ASan sees any
 * out-of-bounds view); then the tensors are saved, the saved file must open
 * again with the same names, dtypes, shapes and bytes, and saving that
 * again must give the very same bytes (the writer is canonical). */
#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

static void setup(void) { fz_setup("fuzz_safetensors", "safetensors", "fuzz_st", ".safetensors"); }

static const char *const md[] = {"format", "pt", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fmt)
        setup();
    void *src = NULL;
    ptm_state_dict *sd = fz_probe_and_load(data, size, "format", 1, 0, &src);
    if (!sd)
        return 0;
    fmt->close(src); /* tensors stay valid */

    if (fmt->save(out_path, sd, md) != PTM_OK)
        die("saving an accepted file failed");
    void *src2 = NULL;
    ptm_state_dict *sd2 = fz_load_all(out_path, "format", 1, 0, &src2);
    if (!sd2)
        die("the saved file does not open");
    if (ptm_state_dict_size(sd2) != ptm_state_dict_size(sd))
        die("round trip changed the tensor count");
    fz_check_same(sd, sd2, 1);
    const char *f = fmt->metadata(src2, "format");
    if (!f || strcmp(f, "pt") != 0)
        die("round trip lost the metadata");
    fmt->close(src2);
    if (fmt->save(out2_path, sd2, md) != PTM_OK)
        die("saving the round trip failed");
    fz_check_canonical();
    ptm_state_dict_free(sd2);
    ptm_state_dict_free(sd);
    return 0;
}
