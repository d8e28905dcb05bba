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
/* cmd_run.c, shared with cmd_generate.c: parse "1,2,3" (malloc'd; 2 on a usage error). */
int cli_parse_ids(const char *cmd, const char *arg, int64_t **ids, size_t *n);
/* Parse an integer in [lo, hi] / a finite number for option `opt`; 2 on a usage error. */
int cli_parse_long(const char *cmd, const char *opt, const char *arg, long long lo, long long hi, long long *out);
int cli_parse_float(const char *cmd, const char *opt, const char *arg, float *out);
/* Context + model + exec (backend, threads); 1 with one line on stderr on failure. */
int cli_open_model(const char *cmd, const char *path, ptm_dtype dtype, const char *backend, int threads,
                   ptm_context **ctx, ptm_model **m, ptm_exec **ex);
void cli_close_model(ptm_context *ctx, ptm_model *m, ptm_exec *ex);
/* 1 (with one line on stderr) if an id is outside config vocab_size. */
int cli_check_vocab(const char *cmd, const ptm_model *m, const int64_t *ids, size_t n);

#endif
