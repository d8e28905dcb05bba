/* SPDX-License-Identifier: Apache-2.0 */
/* cli.h - shared pieces of the `ptm` command. */
#ifndef PTM_CLI_H
#define PTM_CLI_H

#include <ptm/ptm.h>

int cmd_plugins(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);

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

#endif
