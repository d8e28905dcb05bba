/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_convert.c - `ptm convert MODEL OUT_DIR [--dtype ...]`. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: ptm convert MODEL OUT_DIR [--dtype auto|f32|f16|bf16] [--class NAME]\n\n"
    "Load MODEL (a folder with config.json and weights, or a weights file) and\n"
    "save it into OUT_DIR as config.json + model.safetensors, the way\n"
    "transformers' save_pretrained does (tied weights written once, metadata\n"
    "{\"format\": \"pt\"}).  Files are written under temporary names and renamed,\n"
    "so a failure leaves OUT_DIR as it was.\n\n"
    "  --dtype D       store the parameters as D (default: auto, keep the\n"
    "                  checkpoint's dtype); config.json's torch_dtype follows\n"
    "  --class NAME    build this model class instead of config.json's\n"
    "  -h, --help      show this help\n";

int cmd_convert(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    ptm_load_options o;
    ptm_load_options_init(&o);
    o.dtype = PTM_DTYPE_AUTO;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) {
            if (cli_parse_dtype("convert", argv[++i], &o.dtype))
                return 2;
        } else if (!strcmp(argv[i], "--class") && i + 1 < argc) {
            o.class_name = argv[++i];
        } else if (argv[i][0] == '-' || npos == 2) {
            fprintf(stderr, "ptm convert: unexpected argument \"%s\" (see ptm convert --help)\n", argv[i]);
            return 2;
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (npos != 2) {
        fprintf(stderr, "ptm convert: need MODEL and OUT_DIR (see ptm convert --help)\n");
        return 2;
    }
    ptm_context *ctx;
    if (cli_context("convert", &ctx))
        return 1;
    ptm_model *m;
    if (ptm_model_from_pretrained(ctx, pos[0], &o, &m) != PTM_OK) {
        ptm_context_free(ctx);
        return cli_fail("convert", NULL);
    }
    int rc = 0;
    if (ptm_model_save_pretrained(m, pos[1], NULL) != PTM_OK)
        rc = cli_fail("convert", NULL);
    else
        printf("saved %s (%s, %s, %lld parameters) to %s\n", pos[0], ptm_model_class(m),
               ptm_dtype_torch_name(ptm_model_dtype(m)), (long long)ptm_model_num_parameters(m, 0, 0), pos[1]);
    ptm_model_free(m);
    ptm_context_free(ctx);
    return rc;
}
