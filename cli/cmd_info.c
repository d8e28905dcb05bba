/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_info.c - `ptm info MODEL [--json]`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ptm info MODEL [--json] [--dtype D] [--class NAME] [--from-tf | --from-flax]\n\n"
    "Load MODEL (a folder with config.json and weights, or a weights file) and\n"
    "describe it: model type, architecture class, dtype, parameter counts,\n"
    "memory footprint, weight files and, for a model that can generate, its\n"
    "generation defaults (generation_config.json, or those derived from\n"
    "config.json when the folder has none; `ptm generate` starts from them).\n\n"
    "  --json          print one JSON object (keys: model_type, architecture,\n"
    "                  dtype, num_parameters, num_parameters_non_embedding,\n"
    "                  num_parameters_trainable, memory_footprint,\n"
    "                  memory_footprint_without_buffers, can_generate, files,\n"
    "                  missing_keys, unexpected_keys, and for models that can\n"
    "                  generate generation_config, generation_config_file:\n"
    "                  its path, or null when derived from config.json)\n"
    CLI_LOAD_HELP
    "  -h, --help      show this help\n";

static void human_bytes(int64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* Parse the options shared by commands that load a model. */
int cli_parse_dtype(const char *cmd, const char *arg, ptm_dtype *out)
{
    if (!strcmp(arg, "auto")) {
        *out = PTM_DTYPE_AUTO;
        return 0;
    }
    if (ptm_dtype_parse(arg, out) != PTM_OK || !(*out == PTM_F32 || *out == PTM_F16 || *out == PTM_BF16)) {
        fprintf(stderr, "ptm %s: --dtype must be auto, f32, f16 or bf16 (got \"%s\")\n", cmd, arg);
        return 2;
    }
    return 0;
}

static ptm_status add_key_list(ptm_config *j, const char *key, const ptm_model *m, ptm_key_report which)
{
    size_t n = ptm_model_key_report_size(m, which);
    const char **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return PTM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = ptm_model_key_report(m, which, i);
    ptm_status s = ptm_config_set_string_array(j, key, v, n);
    free(v);
    return s;
}

/* The generation config on one line: newlines and indentation outside
 * strings dropped (in place). */
static void one_line(char *t)
{
    char *w = t;
    int in_str = 0;
    for (const char *r = t; *r; r++) {
        if (in_str) {
            *w++ = *r;
            if (*r == '\\' && r[1])
                *w++ = *++r;
            else if (*r == '"')
                in_str = 0;
        } else if (*r == '\n') {
            while (r[1] == ' ')
                r++;
            if (w > t && w[-1] == ',')
                *w++ = ' ';
        } else {
            if (*r == '"')
                in_str = 1;
            *w++ = *r;
        }
    }
    *w = '\0';
}

static int print_json(const ptm_model *m)
{
    ptm_config *j;
    if (ptm_config_new(&j) != PTM_OK)
        return 1;
    size_t nf = ptm_model_file_count(m);
    const char **files = calloc(nf ? nf : 1, sizeof *files);
    for (size_t i = 0; files && i < nf; i++)
        files[i] = ptm_model_file(m, i);
    char *text = NULL;
    ptm_status s = files ? PTM_OK : PTM_ERR_NOMEM;
    if (!s) s = ptm_config_set_string(j, "model_type", ptm_model_type(m));
    if (!s) s = ptm_config_set_string(j, "architecture", ptm_model_class(m));
    if (!s) s = ptm_config_set_string(j, "dtype", ptm_dtype_torch_name(ptm_model_dtype(m)));
    if (!s) s = ptm_config_set_int(j, "num_parameters", ptm_model_num_parameters(m, 0, 0));
    if (!s) s = ptm_config_set_int(j, "num_parameters_non_embedding", ptm_model_num_parameters(m, 0, 1));
    if (!s) s = ptm_config_set_int(j, "num_parameters_trainable", ptm_model_num_parameters(m, 1, 0));
    if (!s) s = ptm_config_set_int(j, "memory_footprint", ptm_model_memory_footprint(m, 1));
    if (!s) s = ptm_config_set_int(j, "memory_footprint_without_buffers", ptm_model_memory_footprint(m, 0));
    if (!s) s = ptm_config_set_bool(j, "can_generate", ptm_model_can_generate(m));
    if (!s) s = ptm_config_set_string_array(j, "files", files, nf);
    if (!s) s = add_key_list(j, "missing_keys", m, PTM_KEYS_MISSING);
    if (!s) s = add_key_list(j, "unexpected_keys", m, PTM_KEYS_UNEXPECTED);
    const ptm_config *gc = ptm_model_generation_config(m);
    if (!s && gc) {
        char *g = NULL;
        s = ptm_config_to_json(gc, &g);
        if (!s) s = ptm_config_set_json(j, "generation_config", g);
        ptm_free(g);
        const char *origin = ptm_config_origin(gc);
        if (!s) s = origin ? ptm_config_set_string(j, "generation_config_file", origin)
                           : ptm_config_set_null(j, "generation_config_file");
    }
    if (!s) s = ptm_config_to_json(j, &text);
    if (!s)
        fputs(text, stdout);
    ptm_free(text);
    free(files);
    ptm_config_free(j);
    return s ? cli_fail("info", "writing JSON") : 0;
}

static void print_text(const ptm_model *m)
{
    char a[32], b[32];
    printf("model_type      %s\n", ptm_model_type(m));
    printf("architecture    %s%s\n", ptm_model_class(m), ptm_model_can_generate(m) ? " (can generate)" : "");
    printf("dtype           %s\n", ptm_dtype_torch_name(ptm_model_dtype(m)));
    printf("parameters      %lld (%lld excluding embeddings)\n", (long long)ptm_model_num_parameters(m, 0, 0),
           (long long)ptm_model_num_parameters(m, 0, 1));
    human_bytes(ptm_model_memory_footprint(m, 1), a, sizeof a);
    human_bytes(ptm_model_memory_footprint(m, 0), b, sizeof b);
    printf("memory          %lld bytes (%s; %s without buffers)\n", (long long)ptm_model_memory_footprint(m, 1), a, b);
    for (size_t i = 0; i < ptm_model_file_count(m); i++)
        printf("%-16s%s\n", i ? "" : "files", ptm_model_file(m, i));
    size_t nm = ptm_model_key_report_size(m, PTM_KEYS_MISSING), nu = ptm_model_key_report_size(m, PTM_KEYS_UNEXPECTED);
    if (nm || nu)
        printf("loading info    %zu missing (newly initialised), %zu unexpected (ignored)\n", nm, nu);
    const ptm_config *gc = ptm_model_generation_config(m);
    char *g = NULL;
    if (gc && ptm_config_to_json(gc, &g) == PTM_OK) {
        one_line(g);
        printf("generation      %s\n%-16s(%s%s)\n", g, "", ptm_config_origin(gc) ? "from " : "derived from config.json",
               ptm_config_origin(gc) ? ptm_config_origin(gc) : "");
    }
    ptm_free(g);
}

int cmd_info(int argc, char **argv)
{
    const char *model = NULL;
    int json = 0, lr;
    ptm_load_options o;
    cli_load_options_init(&o);
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        } else if ((lr = cli_load_option("info", argc, argv, &i, &o))) {
            if (lr == 2)
                return 2;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' || model) {
            fprintf(stderr, "ptm info: unexpected argument \"%s\" (see ptm info --help)\n", argv[i]);
            return 2;
        } else {
            model = argv[i];
        }
    }
    if (!model) {
        fprintf(stderr, "ptm info: missing MODEL (see ptm info --help)\n");
        return 2;
    }
    ptm_context *ctx;
    if (cli_context("info", &ctx))
        return 1;
    ptm_model *m;
    if (cli_from_pretrained(ctx, model, &o, &m) != PTM_OK) {
        ptm_context_free(ctx);
        return cli_fail("info", NULL);
    }
    int rc = 0;
    if (json)
        rc = print_json(m);
    else
        print_text(m);
    ptm_model_free(m);
    ptm_context_free(ctx);
    return rc;
}
