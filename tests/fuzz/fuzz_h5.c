/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_h5.c - libFuzzer target for the TF/Keras h5 plugin's reader.
 *
 * The reader is our own HDF5 parser working on a memory image, so each
 * input is opened straight from memory (h5p_open_buffer on an exact-size
 * heap copy, so ASan sees any read past its end); no temporary file, and
 * the target is built without libhdf5 (formats/h5/fuzz_libs.cmake), hence
 * without the writer.  A refused input must give a status and a message
 * naming the file.  An accepted one must load every tensor, each agreeing
 * with its info, and all bytes are read (so ASan sees any out-of-bounds
 * view); opening the same image twice must give the same tensors. */
#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "h5_internal.h"

static const uint8_t *cur_data;
static size_t cur_size;

static void release_copy(void *data, void *user)
{
    (void)user;
    free(data);
}

/* fz_open: the current input as an in-memory image named `path`. */
static ptm_status open_image(const char *path, void **source)
{
    uint8_t *copy = malloc(cur_size ? cur_size : 1);
    if (!copy)
        die("out of memory");
    if (cur_size)
        memcpy(copy, cur_data, cur_size);
    ptm_buffer *b = NULL;
    if (ptm_buffer_wrap(copy, cur_size, 1, release_copy, NULL, &b) != PTM_OK)
        die("buffer wrap");
    ptm_status s = h5p_open_buffer(path, b, source);
    ptm_buffer_release(b);
    return s;
}

static void setup(void)
{
    fz_setup("fuzz_h5", "h5", "fuzz_h5", ".h5");
    fz_open = open_image;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fmt)
        setup();
    cur_data = data;
    cur_size = size;
    int score = fmt->probe(in_path, data, size < 64 ? size : 64);
    if (score < 0 || score > 100)
        die("probe out of range");

    ptm_clear_error();
    ptm_state_dict *sd = fz_load_all(in_path, "backend", 1, 0, NULL);
    if (!sd) {
        if (!strstr(ptm_last_error(), in_path))
            die("an error message does not name the file");
        return 0;
    }
    ptm_state_dict *sd2 = fz_load_all(in_path, "keras_version", 1, 0, NULL);
    if (!sd2)
        die("the same image opened once and was refused the second time");
    if (ptm_state_dict_size(sd2) != ptm_state_dict_size(sd))
        die("two opens gave different tensor counts");
    for (size_t i = 0; i < ptm_state_dict_size(sd2); i++) {
        const ptm_tensor *a = ptm_state_dict_tensor(sd2, i);
        const ptm_tensor *b = ptm_state_dict_get(sd, ptm_state_dict_name(sd2, i));
        if (!b || ptm_tensor_dtype(a) != ptm_tensor_dtype(b) || ptm_tensor_nbytes(a) != ptm_tensor_nbytes(b) ||
            (ptm_tensor_nbytes(a) && memcmp(ptm_tensor_data(a), ptm_tensor_data(b), ptm_tensor_nbytes(a)) != 0))
            die("two opens gave different tensors");
    }
    ptm_state_dict_free(sd2);
    ptm_state_dict_free(sd);
    return 0;
}
