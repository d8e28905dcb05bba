/* SPDX-License-Identifier: Apache-2.0 */
/* h5.c - the TF/Keras h5 format plugin (tf_model.h5): probe and the plugin
 * descriptor.  The reader is in h5_read.c on our own HDF5 parser
 * (h5_file.c, h5_group.c), the writer (libhdf5) in h5_write.c, the name
 * mapping in h5_names.c. */
#include "h5_internal.h"

#include <string.h>

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
    .default_max_shard_size = 10000000000ull, /* transformers' TF / Flax "10GB" */
};

static ptm_status h5_register(ptm_registrar *reg) { return ptm_registrar_add_format(reg, &h5_format); }

static const ptm_plugin h5_plugin = {
    PTM_PLUGIN_HEADER,
    "h5",
    "0.2.0",
    "TF/Keras tf_model.h5 reader (own HDF5 parser) and writer (libhdf5): PyTorch names and layouts, sharded TF h5",
    "Apache-2.0",
    h5_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &h5_plugin; }
