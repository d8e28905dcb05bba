/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_run.c - `ptm run MODEL --ids 1,2,3`: one forward pass, the top next
 * tokens, optionally the output tensor as a safetensors file.  Also the
 * helpers `ptm generate` shares (ids lists, numbers, model + exec). */
#include "cli.h"
#include "tokenizer.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: ptm run MODEL --ids 1,2,3 [--backend NAME] [--output FILE] [--threads N]\n"
    "               [--dtype D] [--class NAME] [--from-tf | --from-flax]\n\n"
    "Run one forward pass of MODEL (a folder with config.json and weights) on\n"
    "the token ids and print the 5 most likely next tokens (id, logit,\n"
    "probability, and the token's text when the model folder has a supported\n"
    "tokenizer: ByT5Tokenizer).\n\n"
    "  --ids LIST      comma-separated token ids (one sequence)\n"
    "  --backend NAME  compute backend (default: cpu)\n"
    "  --output FILE   write a safetensors file with \"logits\" (F32 [batch, seq,\n"
    "                  vocab]) for a model with an LM head, or\n"
    "                  \"last_hidden_state\" (F32 [batch, seq, hidden]) for a base\n"
    "                  model\n"
    "  --threads N     CPU threads (default: PTM_NUM_THREADS, else all cores)\n"
    CLI_LOAD_HELP
    "  -h, --help      show this help\n";

int cli_parse_ids(const char *cmd, const char *arg, int64_t **ids, size_t *n)
{
    size_t cap = 1;
    for (const char *p = arg; *p; p++)
        cap += *p == ',';
    *ids = malloc(cap * sizeof **ids);
    *n = 0;
    if (!*ids) {
        fprintf(stderr, "ptm %s: out of memory\n", cmd);
        return 1;
    }
    const char *p = arg;
    for (;;) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || (*end && *end != ',')) {
            fprintf(stderr, "ptm %s: --ids must be comma-separated integers, like 1,2,3 (got \"%s\")\n", cmd, arg);
            free(*ids);
            *ids = NULL;
            return 2;
        }
        (*ids)[(*n)++] = v;
        if (!*end)
            return 0;
        p = end + 1;
    }
}

int cli_parse_long(const char *cmd, const char *opt, const char *arg, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (end == arg || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "ptm %s: %s must be an integer in [%lld, %lld] (got \"%s\")\n", cmd, opt, lo, hi, arg);
        return 2;
    }
    *out = v;
    return 0;
}

int cli_parse_float(const char *cmd, const char *opt, const char *arg, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !isfinite(v)) {
        fprintf(stderr, "ptm %s: %s must be a number (got \"%s\")\n", cmd, opt, arg);
        return 2;
    }
    *out = (float)v;
    return 0;
}

int cli_open_model(const char *cmd, const char *path, const ptm_load_options *lo, const char *backend, int threads,
                   ptm_context **ctx, ptm_model **m, ptm_exec **ex)
{
    *ctx = NULL;
    *m = NULL;
    *ex = NULL;
    if (cli_context(cmd, ctx))
        return 1;
    if (cli_from_pretrained(*ctx, path, lo, m) != PTM_OK) {
        int rc = cli_fail(cmd, NULL);
        ptm_context_free(*ctx);
        *ctx = NULL;
        return rc;
    }
    ptm_exec_options eo;
    ptm_exec_options_init(&eo);
    eo.backend = backend;
    eo.num_threads = threads;
    if (ptm_exec_new(*ctx, &eo, ex) != PTM_OK) {
        int rc = cli_fail(cmd, "backend");
        ptm_model_free(*m);
        ptm_context_free(*ctx);
        *m = NULL;
        *ctx = NULL;
        return rc;
    }
    return 0;
}

void cli_close_model(ptm_context *ctx, ptm_model *m, ptm_exec *ex)
{
    ptm_exec_free(ex);
    ptm_model_free(m);
    ptm_context_free(ctx);
}

int cli_check_vocab(const char *cmd, const ptm_model *m, const int64_t *ids, size_t n)
{
    int64_t V = ptm_config_int(ptm_model_config(m), "vocab_size", 0);
    for (size_t i = 0; V > 0 && i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            fprintf(stderr, "ptm %s: token id %lld (position %zu) is outside the model's vocabulary [0, %lld)\n", cmd,
                    (long long)ids[i], i, (long long)V);
            return 1;
        }
    return 0;
}

/* The 5 largest logits of the last position, with softmax probabilities. */
static void print_top(const ptm_tensor *logits, const cli_tokenizer *tok)
{
    int64_t T = ptm_tensor_dim(logits, 1), V = ptm_tensor_dim(logits, 2);
    const float *row = (const float *)ptm_tensor_data(logits) + (T - 1) * V;
    double mx = -INFINITY, total = 0.0;
    for (int64_t i = 0; i < V; i++)
        if (row[i] > mx)
            mx = row[i];
    for (int64_t i = 0; i < V; i++)
        total += exp((double)row[i] - mx);
    int64_t top[5];
    int k = 0;
    for (int64_t i = 0; i < V; i++) {
        int j;
        if (k < 5)
            j = k++;
        else if (row[i] > row[top[4]])
            j = 4;
        else
            continue;
        top[j] = i;
        for (; j > 0 && row[top[j]] > row[top[j - 1]]; j--) { /* ties keep the lower id first */
            int64_t t = top[j];
            top[j] = top[j - 1];
            top[j - 1] = t;
        }
    }
    printf("next-token candidates after position %lld:\n", (long long)(T - 1));
    printf("  %-8s %12s %10s%s\n", "id", "logit", "prob", tok ? "  token" : "");
    for (int i = 0; i < k; i++) {
        char text[48];
        printf("  %-8lld %12.5f %10.6f", (long long)top[i], (double)row[top[i]], exp((double)row[top[i]] - mx) / total);
        if (tok)
            printf("  '%s'", cli_tokenizer_display(tok, top[i], text, sizeof text));
        printf("\n");
    }
}

/* Write `t` under `name` to `path` through the safetensors plugin: a
 * temporary file in the same folder, renamed into place. */
static int write_output(const char *path, ptm_context *ctx, const char *name, const ptm_tensor *t)
{
    const ptm_format *fmt = ptm_context_find_format(ctx, "safetensors");
    if (!fmt || !fmt->save)
        return cli_fail("run", "--output needs the safetensors format plugin");
    ptm_tensor *copy = NULL;
    ptm_state_dict *sd = NULL;
    char *tmp = malloc(strlen(path) + 32);
    int rc = 0;
    if (!tmp || ptm_tensor_convert(t, PTM_F32, &copy) != PTM_OK || ptm_state_dict_new(&sd) != PTM_OK ||
        ptm_state_dict_set(sd, name, copy) != PTM_OK) {
        rc = cli_fail("run", "preparing the output");
        goto done;
    }
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    const char *const meta[] = {"format", "pt", NULL};
    if (fmt->save(tmp, sd, meta) != PTM_OK) {
        rc = cli_fail("run", path);
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "ptm run: %s: cannot rename %s into place: %s\n", path, tmp, strerror(errno));
        unlink(tmp);
        rc = 1;
    }
done:
    ptm_state_dict_free(sd);
    ptm_tensor_release(copy);
    free(tmp);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    const char *model = NULL, *ids_arg = NULL, *backend = NULL, *output = NULL;
    long long threads = 0;
    ptm_load_options lo;
    cli_load_options_init(&lo);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc, lr;
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        } else if ((lr = cli_load_option("run", argc, argv, &i, &lo))) {
            if (lr == 2)
                return 2;
        } else if (!strcmp(a, "--ids") && has) {
            ids_arg = argv[++i];
        } else if (!strcmp(a, "--backend") && has) {
            backend = argv[++i];
        } else if (!strcmp(a, "--output") && has) {
            output = argv[++i];
        } else if (!strcmp(a, "--threads") && has) {
            if (cli_parse_long("run", "--threads", argv[++i], 1, 1024, &threads))
                return 2;
        } else if (a[0] == '-' || model) {
            fprintf(stderr, "ptm run: unexpected argument \"%s\" (see ptm run --help)\n", a);
            return 2;
        } else {
            model = a;
        }
    }
    if (!model || !ids_arg) {
        fprintf(stderr, "ptm run: need MODEL and --ids (see ptm run --help)\n");
        return 2;
    }
    int64_t *ids;
    size_t n;
    int rc = cli_parse_ids("run", ids_arg, &ids, &n);
    if (rc)
        return rc;
    ptm_context *ctx;
    ptm_model *m;
    ptm_exec *ex;
    if ((rc = cli_open_model("run", model, &lo, backend, (int)threads, &ctx, &m, &ex))) {
        free(ids);
        return rc;
    }
    ptm_tensor *input = NULL, *out = NULL;
    int64_t shape[2] = {1, (int64_t)n};
    cli_tokenizer *tok = NULL;
    const char *why;
    if ((rc = cli_check_vocab("run", m, ids, n)))
        goto done;
    if (ptm_tensor_from_data(PTM_I64, 2, shape, ids, n * sizeof *ids, &input) != PTM_OK) {
        rc = cli_fail("run", NULL);
        goto done;
    }
    ptm_forward_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.input_ids = input;
    if (ptm_model_forward(m, ex, &a, &out) != PTM_OK) {
        rc = cli_fail("run", NULL);
        goto done;
    }
    int head = ptm_model_can_generate(m); /* an LM head: the output is logits */
    printf("%s (%s), %zu tokens, output %s [%lld, %lld, %lld]\n", ptm_model_class(m), ptm_model_type(m), n,
           head ? "logits" : "last_hidden_state", (long long)ptm_tensor_dim(out, 0), (long long)ptm_tensor_dim(out, 1),
           (long long)ptm_tensor_dim(out, 2));
    if (head) {
        cli_tokenizer_open(model, &tok, &why);
        print_top(out, tok);
    }
    if (output)
        rc = write_output(output, ctx, head ? "logits" : "last_hidden_state", out);
done:
    cli_tokenizer_free(tok);
    ptm_tensor_release(input);
    free(ids);
    cli_close_model(ctx, m, ex);
    return rc;
}
