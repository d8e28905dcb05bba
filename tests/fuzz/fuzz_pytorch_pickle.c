/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_pytorch_pickle.c - libFuzzer target for the pytorch plugin's
 * weights-only pickle interpreter alone (formats/pytorch/unpickle.c).
 *
 * The input is data.pkl.  Storage keys "0".."7" exist, record k holding
 * 256 * (k + 1) bytes at a fake offset; any other key is missing.  A refused
 * input must leave a message naming the stream; an accepted one must only
 * name storages that exist, and every tensor must fit inside its storage
 * (checked here independently of the interpreter). */
#include "pt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what)
{
    fprintf(stderr, "fuzz_pytorch_pickle: %s: %s\n", what, ptm_last_error());
    abort();
}

static int lookup(void *user, const char *key, uint64_t *data_off, uint64_t *nbytes)
{
    (void)user;
    if (key[0] < '0' || key[0] > '7' || key[1])
        return -1;
    *data_off = 1000u * (uint64_t)(key[0] - '0');
    *nbytes = 256u * (uint64_t)(key[0] - '0' + 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_pickle_result r;
    ptm_clear_error();
    ptm_status s = pt_unpickle("FUZZ/data.pkl", data, size, lookup, NULL, &r);
    if (s != PTM_OK) {
        if (!strstr(ptm_last_error(), "FUZZ/data.pkl"))
            die("an error message does not name the stream");
        return 0;
    }
    for (size_t i = 0; i < r.n; i++) {
        const pt_rec *R = &r.t[i];
        if (!R->name || R->storage >= r.n_st || R->ndim < 0 || R->ndim > PTM_MAX_DIMS)
            die("bad record");
        const pt_storage *S = &r.st[R->storage];
        uint64_t off, nb;
        if (lookup(NULL, S->key, &off, &nb) != 0 || S->nbytes > nb || S->data_off != off)
            die("a storage that does not exist or does not fit its record");
        size_t es = ptm_dtype_size(R->dtype);
        if (!es)
            die("bad dtype");
        /* extent, in 128-bit arithmetic */
        unsigned __int128 last = R->offset;
        int empty = 0;
        for (int d = 0; d < R->ndim; d++) {
            if (R->shape[d] < 0 || R->stride[d] < 0)
                die("negative size or stride");
            if (R->shape[d] == 0)
                empty = 1;
        }
        if (!empty)
            for (int d = 0; d < R->ndim; d++)
                last += (unsigned __int128)(uint64_t)(R->shape[d] - 1) * (uint64_t)R->stride[d];
        unsigned __int128 end = (last + (empty ? 0 : 1)) * es;
        if (end > S->nbytes)
            die("a tensor reaches past its storage");
    }
    pt_pickle_result_free(&r);
    return 0;
}
