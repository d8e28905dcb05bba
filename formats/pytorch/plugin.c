/* SPDX-License-Identifier: Apache-2.0 */
/* plugin.c - the pytorch format plugin's descriptor: pytorch_model.bin
 * (torch.save zip format) read through a weights-only pickle interpreter,
 * and written as torch.load(weights_only=True) reads it. */
#include "pt_internal.h"

static const char *const pt_weight_names[] = {"pytorch_model.bin", "pytorch_model.bin.index.json", NULL};

static const ptm_format pt_format = {
    .struct_size = sizeof(ptm_format),
    .name = "pytorch",
    .weight_names = pt_weight_names,
    .extension = ".bin",
    .probe = pt_probe,
    .open = pt_open,
    .close = pt_close,
    .count = pt_count,
    .info = pt_info,
    .load = pt_load,
    .metadata = NULL,
    .save = pt_save,
};

static ptm_status pt_register(ptm_registrar *reg) { return ptm_registrar_add_format(reg, &pt_format); }

static const ptm_plugin pt_plugin = {
    PTM_PLUGIN_HEADER,
    "pytorch",
    "0.1.0",
    "PyTorch checkpoints (torch.save zip format, pytorch_model.bin): safe weights-only reader and writer",
    "Apache-2.0",
    pt_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &pt_plugin; }
