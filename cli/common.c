/* SPDX-License-Identifier: Apache-2.0 */
/* common.c - logging, error reporting and context creation for the CLI. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void log_to_stderr(ptm_log_level level, const char *msg, void *ud)
{
    (void)ud;
    static const char *const names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "ptm: %s: %s\n", names[level & 3], msg);
}

void cli_setup_logging(void)
{
    const char *lv = getenv("PTM_LOG_LEVEL");
    ptm_log_level min = PTM_LOG_WARN;
    if (lv && !strcmp(lv, "debug"))
        min = PTM_LOG_DEBUG;
    else if (lv && !strcmp(lv, "info"))
        min = PTM_LOG_INFO;
    else if (lv && !strcmp(lv, "error"))
        min = PTM_LOG_ERROR;
    ptm_set_log_callback(log_to_stderr, NULL, min);
}

int cli_fail(const char *cmd, const char *what)
{
    const char *msg = ptm_last_error();
    if (what && *msg)
        fprintf(stderr, "ptm %s: %s: %s\n", cmd, what, msg);
    else
        fprintf(stderr, "ptm %s: %s\n", cmd, *msg ? msg : (what ? what : "failed"));
    return 1;
}

int cli_context(const char *cmd, ptm_context **ctx)
{
    if (ptm_context_new(NULL, ctx) != PTM_OK)
        return cli_fail(cmd, "cannot create a context");
    return 0;
}

int cli_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int cli_load_option(const char *cmd, int argc, char **argv, int *i, ptm_load_options *o)
{
    const char *a = argv[*i];
    int has = *i + 1 < argc;
    if (!strcmp(a, "--dtype") && has) {
        (*i)++;
        return cli_parse_dtype(cmd, argv[*i], &o->dtype) ? 2 : 1;
    }
    if (!strcmp(a, "--class") && has) {
        o->class_name = argv[++*i];
        return 1;
    }
    if (!strcmp(a, "--from-tf")) {
        o->from_tf = 1;
        return 1;
    }
    if (!strcmp(a, "--from-flax")) {
        o->from_flax = 1;
        return 1;
    }
    return 0;
}

void cli_load_options_init(ptm_load_options *o)
{
    ptm_load_options_init(o);
    o->dtype = PTM_DTYPE_AUTO; /* the command line keeps the checkpoint's dtype unless told */
}
