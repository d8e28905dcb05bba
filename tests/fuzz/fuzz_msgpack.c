/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_msgpack.c - libFuzzer target for the Flax msgpack plugin.
 *
 * Each input is written to a temporary file and opened with the plugin.  A
 * refused input must give a status and a message naming the file.  An
 * accepted one must load every tensor (all bytes are read, so ASan sees any
 * out-of-bounds view) with the dtype and shape info() reported; then the
 * tensors are saved (no roles: the writer's name heuristics), and the saved
 * file must open again with the same names, dtypes, shapes and bytes
 * (num_batches_tracked aside, which the writer drops), and saving that
 * again must give the very same bytes.  The writer may refuse a state dict
 * whose names cannot form one Flax tree ("a.b" and "a.b.c"), or whose names
 * have too many components, with a message. */
#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

static void setup(void) { fz_setup("fuzz_msgpack", "msgpack", "fuzz_mp", ".msgpack"); }

static int dropped(const char *name)
{
    const char *dot = strrchr(name, '.');
    return strcmp(dot ? dot + 1 : name, "num_batches_tracked") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fmt)
        setup();
    ptm_state_dict *sd = fz_probe_and_load(data, size, NULL, 1, 0, NULL);
    if (!sd)
        return 0;
    ptm_status s = fmt->save(out_path, sd, NULL);
    if (s == PTM_ERR_INVALID_ARG || s == PTM_ERR_UNSUPPORTED) {
        if (!strstr(ptm_last_error(), out_path))
            die("a writer refusal does not name the file");
        ptm_state_dict_free(sd);
        return 0;
    }
    if (s != PTM_OK)
        die("saving an accepted file failed");
    ptm_state_dict *sd2 = fz_load_all(out_path, NULL, 1, 0, NULL);
    if (!sd2)
        die("the saved file does not open");
    size_t kept = 0;
    for (size_t i = 0; i < ptm_state_dict_size(sd); i++)
        kept += !dropped(ptm_state_dict_name(sd, i));
    if (ptm_state_dict_size(sd2) != kept)
        die("round trip changed the tensor count");
    fz_check_same(sd, sd2, 1);
    if (fmt->save(out2_path, sd2, NULL) != PTM_OK)
        die("saving the round trip failed");
    fz_check_canonical();
    ptm_state_dict_free(sd2);
    ptm_state_dict_free(sd);
    return 0;
}
