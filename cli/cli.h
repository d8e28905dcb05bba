/* SPDX-License-Identifier: Apache-2.0 */
/* cli.h - shared pieces of the `ptm` command. */
#ifndef PTM_CLI_H
#define PTM_CLI_H

#include <ptm/ptm.h>

int cmd_plugins(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_push(int argc, char **argv);

/* Route library log messages to stderr (warnings and up; PTM_LOG_LEVEL=debug
 * for more). */
void cli_setup_logging(void);
/* Print "ptm CMD: <what>: <ptm_last_error()>" on one line to stderr; returns
 * the exit code: 1, or the Hub error's own code when the failing call went
 * through cli_record / cli_from_pretrained (cli_exit_code). */
int cli_fail(const char *cmd, const char *what);
/* Exit codes of Hub errors: 3 network, 4 repository not found, 5 gated or
 * unauthorized, 6 revision not found, 7 file not found, 8 offline and not
 * cached; 1 for everything else (2 is a usage error). */
int cli_exit_code(ptm_status s);
/* Remember `s` for cli_fail's exit code; returns s. */
ptm_status cli_record(ptm_status s);
/* ptm_model_from_pretrained + cli_record. */
ptm_status cli_from_pretrained(ptm_context *ctx, const char *path, const ptm_load_options *o, ptm_model **m);
/* The Hub options (CLI_HUB_HELP) into h: 1 if argv[*i] was one, 0 if not,
 * 2 on a usage error. */
int cli_hub_option(const char *cmd, int argc, char **argv, int *i, ptm_hub_options *h);
/* ptm_hub_options_init + the progress bar (stderr is a terminal and
 * HF_HUB_DISABLE_PROGRESS_BARS is not true). */
void cli_hub_options_init(ptm_hub_options *h);
/* Create a context with the default search order. */
int cli_context(const char *cmd, ptm_context **ctx);
/* 1 if argv[i] is --help or -h. */
int cli_is_help(const char *arg);
int cli_parse_dtype(const char *cmd, const char *arg, ptm_dtype *out);
/* The options of every command that loads a model (CLI_LOAD_HELP): returns
 * 1 if argv[*i] was one (advancing *i past its value), 0 if not, 2 on a
 * usage error (one line printed). */
int cli_load_option(const char *cmd, int argc, char **argv, int *i, ptm_load_options *o);
/* ptm_load_options_init with dtype "auto". */
void cli_load_options_init(ptm_load_options *o);
#define CLI_LOAD_HELP                                                                          \
    "  --dtype D       load the parameters as D: auto (default: the checkpoint's\n"             \
    "                  dtype), f32, f16 or bf16\n"                                             \
    CLI_SOURCE_HELP
/* The options of cli_load_option but --dtype (ptm convert's --dtype casts). */
#define CLI_SOURCE_HELP                                                                        \
    "  --class NAME    build this model class instead of config.json's\n"                     \
    "  --from-tf       load tf_model.h5 (transformers' from_tf=True)\n"                         \
    "  --from-flax     load flax_model.msgpack (transformers' from_flax=True)\n"         \
    "MODEL may also be a Hub repo id (\"name\" or \"org/name\"), downloaded into\n"        \
    "the Hugging Face cache (see docs/hub.md):\n"                                           \
    CLI_HUB_HELP
#define CLI_HUB_HELP                                                                          \
    "  --revision R    branch, tag or commit (default main)\n"                                \
    "  --cache-dir D   cache root (default HF_HUB_CACHE, HF_HOME/hub,\n"                      \
    "                  ~/.cache/huggingface/hub)\n"                                           \
    "  --token T       Hub token (default HF_TOKEN, then HF_HOME/token)\n"                    \
    "  --endpoint URL  Hub or mirror URL (default HF_ENDPOINT, https://huggingface.co)\n"     \
    "  --proxy URL     proxy for every host (default: https_proxy / http_proxy, no_proxy)\n"  \
    "  --subfolder S   the model lives in folder S of the repo\n"                             \
    "  --force-download      download again even when cached\n"                              \
    "  --local-files-only    never use the network (as HF_HUB_OFFLINE=1)\n"                  \
    "  --no-progress   no progress bar (also HF_HUB_DISABLE_PROGRESS_BARS=1)\n"
/* cmd_run.c, shared with cmd_generate.c: parse "1,2,3" (malloc'd; 2 on a usage error). */
int cli_parse_ids(const char *cmd, const char *arg, int64_t **ids, size_t *n);
/* Parse an integer in [lo, hi] / a finite number for option `opt`; 2 on a usage error. */
int cli_parse_long(const char *cmd, const char *opt, const char *arg, long long lo, long long hi, long long *out);
int cli_parse_float(const char *cmd, const char *opt, const char *arg, float *out);
/* Context + model + exec (backend, threads); 1 with one line on stderr on failure. */
int cli_open_model(const char *cmd, const char *path, const ptm_load_options *lo, const char *backend, int threads,
                   ptm_context **ctx, ptm_model **m, ptm_exec **ex);
void cli_close_model(ptm_context *ctx, ptm_model *m, ptm_exec *ex);
/* 1 (with one line on stderr) if an id is outside config vocab_size. */
int cli_check_vocab(const char *cmd, const ptm_model *m, const int64_t *ids, size_t n);

#endif
