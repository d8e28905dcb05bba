/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_generate.c - `ptm generate MODEL (--ids LIST | --prompt TEXT)`:
 * greedy or sampled continuation, streamed as it is generated. */
#include "cli.h"
#include "tokenizer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ptm generate MODEL (--ids 1,2,3 | --prompt TEXT) [--max-new-tokens N]\n"
    "                    [--greedy | --temperature T --top-k K --top-p P --seed S]\n"
    "                    [--backend NAME] [--threads N] [--dtype D] [--class NAME]\n"
    "                    [--from-tf | --from-flax]\n\n"
    "Continue a prompt with MODEL (a folder with config.json and weights of a\n"
    "model with an LM head).  New tokens are printed as they come: as text, after\n"
    "the prompt's, when the model folder has a supported tokenizer\n"
    "(ByT5Tokenizer), else as ids.\n"
    "Then the whole sequence (prompt and new tokens) is printed as ids on a\n"
    "line starting with \"ids:\".  Generation stops after N tokens or when the\n"
    "model emits an end-of-sequence token.\n\n"
    "Defaults come from the model's generation config, as in transformers:\n"
    "generation_config.json beside config.json when there is one, else the\n"
    "generation keys of config.json (`ptm info MODEL` shows it).  Its\n"
    "max_new_tokens (or max_length minus the prompt length), do_sample,\n"
    "temperature, top_k, top_p, eos_token_id and pad_token_id replace the\n"
    "built-in defaults below; the options given here replace both.  With no\n"
    "eos_token_id there, config.json's is used.\n\n"
    "  --ids LIST          the prompt as comma-separated token ids\n"
    "  --prompt TEXT       the prompt as text (needs a supported tokenizer;\n"
    "                      no </s> is appended)\n"
    "  --max-new-tokens N  tokens to generate at most (default 20)\n"
    "  --greedy            pick the most likely token (the default, unless\n"
    "                      the generation config says do_sample)\n"
    "  --temperature T     sample, dividing the logits by T (default 1)\n"
    "  --top-k K           sample among the K most likely tokens (default 50;\n"
    "                      0 = all)\n"
    "  --top-p P           sample within the smallest set of tokens whose\n"
    "                      probability reaches P (default 1 = all)\n"
    "  --seed S            sampling seed (default 0); any of these four\n"
    "                      options turns sampling on\n"
    "  --backend NAME      compute backend (default: cpu)\n"
    "  --threads N         CPU threads (default: PTM_NUM_THREADS, else all cores)\n"
    CLI_LOAD_HELP
    "  -h, --help          show this help\n";

typedef struct stream {
    const cli_tokenizer *tok;
    int64_t count;
} stream;

static int on_token(int64_t batch, int64_t token, void *ud)
{
    stream *st = ud;
    (void)batch;
    if (st->tok) {
        unsigned char b[4];
        size_t n = cli_tokenizer_bytes(st->tok, token, b, sizeof b);
        fwrite(b, 1, n, stdout);
    } else {
        printf("%s%lld", st->count ? " " : "", (long long)token);
    }
    st->count++;
    fflush(stdout);
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *ids_arg = NULL, *prompt = NULL, *backend = NULL;
    long long threads = 0, max_new = 20, top_k = 50, seed = 0;
    float temperature = 1.0f, top_p = 1.0f;
    int greedy = 0, sample = 0, lr;
    /* which options were given: they override the generation config */
    int set_max = 0, set_temp = 0, set_k = 0, set_p = 0;
    ptm_load_options lo;
    cli_load_options_init(&lo);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc, bad = 0;
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        } else if ((lr = cli_load_option("generate", argc, argv, &i, &lo))) {
            bad = lr == 2 ? 2 : 0;
        } else if (!strcmp(a, "--ids") && has) {
            ids_arg = argv[++i];
        } else if (!strcmp(a, "--prompt") && has) {
            prompt = argv[++i];
        } else if (!strcmp(a, "--backend") && has) {
            backend = argv[++i];
        } else if (!strcmp(a, "--threads") && has) {
            bad = cli_parse_long("generate", a, argv[++i], 1, 1024, &threads);
        } else if (!strcmp(a, "--max-new-tokens") && has) {
            bad = cli_parse_long("generate", a, argv[++i], 0, 1000000000, &max_new);
            set_max = 1;
        } else if (!strcmp(a, "--greedy")) {
            greedy = 1;
        } else if (!strcmp(a, "--temperature") && has) {
            bad = cli_parse_float("generate", a, argv[++i], &temperature);
            if (!bad && !(temperature > 0.0f)) {
                fprintf(stderr, "ptm generate: --temperature must be > 0 (got \"%s\")\n", argv[i]);
                bad = 2;
            }
            sample = set_temp = 1;
        } else if (!strcmp(a, "--top-k") && has) {
            bad = cli_parse_long("generate", a, argv[++i], 0, 1LL << 31, &top_k);
            sample = set_k = 1;
        } else if (!strcmp(a, "--top-p") && has) {
            bad = cli_parse_float("generate", a, argv[++i], &top_p);
            if (!bad && !(top_p > 0.0f && top_p <= 1.0f)) {
                fprintf(stderr, "ptm generate: --top-p must be in (0, 1] (got \"%s\")\n", argv[i]);
                bad = 2;
            }
            sample = set_p = 1;
        } else if (!strcmp(a, "--seed") && has) {
            bad = cli_parse_long("generate", a, argv[++i], 0, LLONG_MAX, &seed);
            sample = 1;
        } else if (a[0] == '-' || model) {
            fprintf(stderr, "ptm generate: unexpected argument \"%s\" (see ptm generate --help)\n", a);
            return 2;
        } else {
            model = a;
        }
        if (bad)
            return 2;
    }
    if (!model || (!ids_arg == !prompt)) {
        fprintf(stderr, "ptm generate: need MODEL and one of --ids or --prompt (see ptm generate --help)\n");
        return 2;
    }
    if (prompt && !*prompt) {
        fprintf(stderr, "ptm generate: --prompt is empty\n");
        return 2;
    }
    if (greedy && sample) {
        fprintf(stderr, "ptm generate: --greedy cannot be combined with --temperature, --top-k, --top-p or --seed\n");
        return 2;
    }
    int64_t *ids = NULL;
    size_t n = 0;
    int rc;
    if (ids_arg && (rc = cli_parse_ids("generate", ids_arg, &ids, &n)))
        return rc;
    ptm_context *ctx;
    ptm_model *m;
    ptm_exec *ex;
    if ((rc = cli_open_model("generate", model, &lo, backend, (int)threads, &ctx, &m, &ex))) {
        free(ids);
        return rc;
    }
    cli_tokenizer *tok = NULL;
    const char *why = NULL;
    ptm_tensor *input = NULL, *out = NULL;
    /* The tokenizer files sit beside the weights: in the model folder, or
     * in the Hub snapshot folder when MODEL is a repo id. */
    cli_tokenizer_open(ptm_model_file_count(m) ? ptm_model_file(m, 0) : model, &tok, &why);
    if (prompt && !tok) {
        fprintf(stderr, "ptm generate: --prompt needs a supported tokenizer, but %s has none (%s); use --ids\n", model,
                why);
        rc = 1;
        goto done;
    }
    if (prompt && cli_tokenizer_encode(tok, prompt, &ids, &n)) {
        fprintf(stderr, "ptm generate: out of memory\n");
        rc = 1;
        goto done;
    }
    int64_t shape[2] = {1, (int64_t)n};
    if ((rc = cli_check_vocab("generate", m, ids, n)))
        goto done;
    if (!ptm_model_can_generate(m)) {
        fprintf(stderr, "ptm generate: %s (%s) cannot generate: it has no language-modelling head\n",
                ptm_model_class(m), model);
        rc = 1;
        goto done;
    }
    if (ptm_tensor_from_data(PTM_I64, 2, shape, ids, n * sizeof *ids, &input) != PTM_OK) {
        rc = cli_fail("generate", NULL);
        goto done;
    }
    stream st = {tok, 0};
    if (tok) { /* the prompt first, so the text reads whole */
        for (size_t i = 0; i < n; i++) {
            unsigned char b[4];
            fwrite(b, 1, cli_tokenizer_bytes(tok, ids[i], b, sizeof b), stdout);
        }
        fflush(stdout);
    }
    ptm_generate_options go;
    ptm_generate_options_init(&go);
    /* the generation config's defaults first, then the options given */
    if (ptm_generate_options_from_model(m, (int64_t)n, &go) != PTM_OK) {
        rc = cli_fail("generate", NULL);
        goto done;
    }
    /* a value refused below that came from a generation_config.json file
     * gets the file named */
    const char *gfile = ptm_model_generation_config(m) ? ptm_config_origin(ptm_model_generation_config(m)) : NULL;
    int from_file = gfile && ((go.do_sample && !greedy && !sample) || (go.temperature != 1.0f && !set_temp) ||
                              (go.top_p != 1.0f && !set_p) || (go.max_new_tokens != 20 && !set_max));
    if (set_max)
        go.max_new_tokens = max_new;
    if (greedy || sample)
        go.do_sample = sample;
    if (set_temp)
        go.temperature = temperature;
    if (set_k)
        go.top_k = top_k;
    if (set_p)
        go.top_p = top_p;
    go.seed = (uint64_t)seed;
    go.on_token = on_token;
    go.user_data = &st;
    ptm_status gs = ptm_model_generate(m, ex, input, NULL, &go, &out);
    if (gs != PTM_OK) {
        if (st.count)
            printf("\n");
        if (from_file && gs == PTM_ERR_INVALID_ARG)
            ptm_error_prefix(gs, "with the defaults of %s", gfile);
        rc = cli_fail("generate", NULL);
        goto done;
    }
    printf("\nids:");
    const int64_t *d = ptm_tensor_data(out);
    for (int64_t i = 0; i < ptm_tensor_numel(out); i++)
        printf("%s%lld", i ? "," : " ", (long long)d[i]);
    printf("\n");
done:
    ptm_tensor_release(out);
    ptm_tensor_release(input);
    free(ids);
    cli_tokenizer_free(tok);
    cli_close_model(ctx, m, ex);
    return rc;
}
