/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_convert.c - `ptm convert MODEL OUT_DIR [--format F] [--dtype D] ...`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ptm convert MODEL OUT_DIR [--format F] [--max-shard-size SIZE]\n"
    "                   [--dtype D [--keep-f32 PATTERN]...] [--class NAME]\n"
    "                   [--from-tf | --from-flax]\n\n"
    "Load MODEL (a folder with config.json and weights, or a weights file) and\n"
    "save it into OUT_DIR the way transformers' save_pretrained does: config.json\n"
    "(torch_dtype updated) and the weights, tied weights written once.  Files are\n"
    "written under temporary names and renamed, so a failure leaves OUT_DIR as it\n"
    "was; afterwards weight files of an earlier save that this one did not\n"
    "overwrite (other shards, a single file or an index) are removed.\n\n"
    "  --format F        weights format: safetensors (default, model.safetensors),\n"
    "                    or another registered format plugin (see ptm plugins),\n"
    "                    e.g. pytorch (pytorch_model.bin), h5 (tf_model.h5),\n"
    "                    msgpack (flax_model.msgpack)\n"
    "  --max-shard-size SIZE\n"
    "                    split weights larger than SIZE into numbered shards\n"
    "                    (model-00001-of-00003.safetensors ...) plus an index\n"
    "                    JSON, as transformers does; SIZE like 5GB, 200MB,\n"
    "                    10GiB, 1KB or a byte count (default 5GB; sharding needs\n"
    "                    the safetensors or pytorch format)\n"
    "  --dtype D         cast the floating parameters to D: f32, f16 or bf16\n"
    "                    (default: keep the checkpoint's dtype)\n"
    "  --keep-f32 PAT    with --dtype: leave parameters whose name matches the\n"
    "                    shell pattern PAT as they are (repeatable), like the\n"
    "                    mask of Flax's to_bf16; e.g. --keep-f32 '*ln_*'\n"
    CLI_SOURCE_HELP
    "  -h, --help      show this help\n";

int cmd_convert(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *format = NULL;
    uint64_t max_shard = 0;
    int npos = 0, rc = 0;
    ptm_dtype cast = PTM_DTYPE_AUTO;
    const char **keep = calloc((size_t)argc + 1, sizeof *keep);
    size_t nkeep = 0;
    ptm_load_options o;
    cli_load_options_init(&o);
    if (!keep) {
        fprintf(stderr, "ptm convert: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc && !rc; i++) {
        int has = i + 1 < argc;
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            free(keep);
            return 0;
        } else if (!strcmp(argv[i], "--dtype") && has) {
            rc = cli_parse_dtype("convert", argv[++i], &cast);
        } else if (!strcmp(argv[i], "--keep-f32") && has) {
            keep[nkeep++] = argv[++i];
        } else if (!strcmp(argv[i], "--format") && has) {
            format = argv[++i];
        } else if (!strcmp(argv[i], "--max-shard-size") && has) {
            if (ptm_parse_file_size(argv[++i], &max_shard) != PTM_OK)
                rc = (cli_fail("convert", NULL), 2);
        } else if ((rc = cli_load_option("convert", argc, argv, &i, &o)) == 1) {
            rc = 0;
        } else if (rc) {
            break;
        } else if (argv[i][0] == '-' || npos == 2) {
            fprintf(stderr, "ptm convert: unexpected argument \"%s\" (see ptm convert --help)\n", argv[i]);
            rc = 2;
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (!rc && npos != 2) {
        fprintf(stderr, "ptm convert: need MODEL and OUT_DIR (see ptm convert --help)\n");
        rc = 2;
    }
    if (!rc && nkeep && cast == PTM_DTYPE_AUTO) {
        fprintf(stderr, "ptm convert: --keep-f32 needs --dtype\n");
        rc = 2;
    }
    ptm_context *ctx = NULL;
    ptm_model *m = NULL;
    if (!rc && (rc = cli_context("convert", &ctx)) == 0 && cli_from_pretrained(ctx, pos[0], &o, &m) != PTM_OK)
        rc = cli_fail("convert", NULL);
    if (!rc && cast != PTM_DTYPE_AUTO && ptm_model_cast(m, cast, nkeep ? keep : NULL) != PTM_OK)
        rc = cli_fail("convert", "casting");
    ptm_save_options so;
    ptm_save_options_init(&so);
    so.format = format;
    so.max_shard_size = max_shard;
    if (!rc && ptm_model_save_pretrained(m, pos[1], &so) != PTM_OK)
        rc = cli_fail("convert", NULL);
    if (!rc)
        printf("saved %s (%s, %s, %lld parameters, %s) to %s\n", pos[0], ptm_model_class(m),
               ptm_dtype_torch_name(ptm_model_dtype(m)), (long long)ptm_model_num_parameters(m, 0, 0),
               format ? format : "safetensors", pos[1]);
    ptm_model_free(m);
    ptm_context_free(ctx);
    free(keep);
    return rc;
}
