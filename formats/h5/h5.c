/* SPDX-License-Identifier: Apache-2.0 */
/* h5.c - the TF/Keras h5 format plugin (tf_model.h5): the HDF5 call guard
 * and error conversion, probe, and the plugin descriptor.  The reader is in
 * h5_read.c, the writer in h5_write.c, the name mapping in h5_names.c. */
#include "h5_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ----------------------------------------------------------- call guard */

static pthread_mutex_t h5p_mutex = PTHREAD_MUTEX_INITIALIZER;
static H5E_auto2_t h5p_saved_fn;
static void *h5p_saved_data;

void h5p_lock(void)
{
    pthread_mutex_lock(&h5p_mutex);
    /* Keep the host's own setting; HDF5 must not print for us. */
    if (H5Eget_auto2(H5E_DEFAULT, &h5p_saved_fn, &h5p_saved_data) < 0) {
        h5p_saved_fn = NULL;
        h5p_saved_data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5Eclear2(H5E_DEFAULT);
}

void h5p_unlock(void)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, h5p_saved_fn, h5p_saved_data);
    pthread_mutex_unlock(&h5p_mutex);
}

typedef struct h5p_errbuf {
    char text[256];
    int have;
} h5p_errbuf;

static herr_t first_error(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    h5p_errbuf *b = data;
    if (!b->have && e && e->desc && e->desc[0]) {
        snprintf(b->text, sizeof b->text, "%s", e->desc);
        b->have = 1;
    }
    return 0;
}

ptm_status h5p_fail(const char *path, const char *object, ptm_status status, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h5p_errbuf eb = {{0}, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, &eb); /* innermost first */
    H5Eclear2(H5E_DEFAULT);
    char hdf[300] = "";
    if (eb.have)
        snprintf(hdf, sizeof hdf, " (HDF5: %s)", eb.text);
    const char *p = path ? path : "h5";
    size_t pl = strlen(p);
    const char *dots = pl > 300 ? "..." : "";
    if (pl > 300)
        p += pl - 300;
    if (object)
        return ptm_error(status, "%s%s: \"%.300s\": %s%s", dots, p, object, msg, hdf);
    return ptm_error(status, "%s%s: %s%s", dots, p, msg, hdf);
}

/* ---------------------------------------------------------------- probe */

static const uint8_t h5_magic[8] = {0x89, 'H', 'D', 'F', 0x0d, 0x0a, 0x1a, 0x0a};

static int h5_probe(const char *path, const uint8_t *head, size_t head_len)
{
    size_t pl = path ? strlen(path) : 0;
    int name_ok = (pl >= 3 && !strcmp(path + pl - 3, ".h5")) || (pl >= 5 && !strcmp(path + pl - 5, ".hdf5"));
    int bytes_ok = head && head_len >= 8 && memcmp(head, h5_magic, 8) == 0;
    if (name_ok && bytes_ok)
        return 100;
    if (bytes_ok)
        return 90;
    if (name_ok)
        return 10; /* a user block, or open explains what is wrong */
    return 0;
}

/* --------------------------------------------------------------- plugin */

static const char *const h5_weight_names[] = {"tf_model.h5", "tf_model.h5.index.json", NULL};

static const ptm_format h5_format = {
    .struct_size = sizeof(ptm_format),
    .name = "h5",
    .weight_names = h5_weight_names,
    .extension = ".h5",
    .probe = h5_probe,
    .open = h5p_open,
    .close = h5p_close,
    .count = h5p_count,
    .info = h5p_info,
    .load = h5p_load,
    .metadata = h5p_metadata,
    .save = h5p_save,
    .save_model = h5p_save_model,
};

static ptm_status h5_register(ptm_registrar *reg) { return ptm_registrar_add_format(reg, &h5_format); }

static const ptm_plugin h5_plugin = {
    PTM_PLUGIN_HEADER,
    "h5",
    "0.1.0",
    "TF/Keras tf_model.h5 reader and writer (libhdf5): PyTorch names and layouts, sharded TF h5",
    "Apache-2.0",
    h5_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &h5_plugin; }
