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
int cmd_push(int argc, char **argv);

/* Route library log messages to stderr (warnings and up; PTM_LOG_LEVEL=debug
 * for more). */
void cli_setup_logging(void);
/* Print "ptm CMD: <what>: <ptm_last_error()>" on one line to stderr; returns 1. */
int cli_fail(const char *cmd, const char *what);
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
    "  --class NAME    build this model class instead of config.json's\n"                     \
    "  --from-tf       load tf_model.h5 (transformers' from_tf=True)\n"                         \
    "  --from-flax     load flax_model.msgpack (transformers' from_flax=True)\n"
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
