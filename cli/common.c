/* SPDX-License-Identifier: Apache-2.0 */
/* common.c - logging, error reporting and context creation for the CLI. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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

/* The status of the last failed call made through cli_from_pretrained /
 * cli_record, so cli_fail can give the Hub errors their own exit codes. */
static ptm_status last_status;

int cli_exit_code(ptm_status s)
{
    switch (s) {
    case PTM_ERR_NETWORK: return 3;
    case PTM_ERR_REPO_NOT_FOUND: return 4;
    case PTM_ERR_GATED: return 5;
    case PTM_ERR_REVISION_NOT_FOUND: return 6;
    case PTM_ERR_ENTRY_NOT_FOUND: return 7;
    case PTM_ERR_OFFLINE: return 8;
    default: return 1;
    }
}

ptm_status cli_record(ptm_status s)
{
    last_status = s;
    return s;
}

int cli_fail(const char *cmd, const char *what)
{
    const char *msg = ptm_last_error();
    if (what && *msg)
        fprintf(stderr, "ptm %s: %s: %s\n", cmd, what, msg);
    else
        fprintf(stderr, "ptm %s: %s\n", cmd, *msg ? msg : (what ? what : "failed"));
    int rc = cli_exit_code(last_status);
    last_status = PTM_OK;
    return rc;
}

ptm_status cli_from_pretrained(ptm_context *ctx, const char *path, const ptm_load_options *o, ptm_model **m)
{
    return cli_record(ptm_model_from_pretrained(ctx, path, o, m));
}

/* ------------------------------------------------------------ progress */

static int progress_off;

static void fmt_bytes(double v, char *buf, size_t n)
{
    static const char *const u[] = {"B", "kB", "MB", "GB", "TB"};
    int k = 0;
    while (v >= 1000.0 && k < 4) {
        v /= 1000.0;
        k++;
    }
    snprintf(buf, n, k ? "%.1f %s" : "%.0f %s", v, u[k]);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One bar per file on stderr: name, bytes, percent, rate, ETA. */
static void draw_progress(void *user, const char *filename, uint64_t done, uint64_t total, int finished)
{
    (void)user;
    static char current[256];
    static double start, last;
    static uint64_t first;
    double t = now_s();
    if (finished && !done && !total) { /* a failed download: end the bar if one was drawn */
        if (current[0] && !strncmp(current, filename, sizeof current - 1))
            fputc('\n', stderr);
        current[0] = '\0';
        return;
    }
    if (strncmp(current, filename, sizeof current - 1)) {
        snprintf(current, sizeof current, "%s", filename);
        start = t;
        last = 0;
        first = done;
    }
    if (!finished && t - last < 0.1)
        return;
    last = t;
    char a[32], b[32], r[32];
    double rate = t > start ? (double)(done - first) / (t - start) : 0;
    fmt_bytes((double)done, a, sizeof a);
    fmt_bytes((double)total, b, sizeof b);
    fmt_bytes(rate, r, sizeof r);
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 0;
    long eta = rate > 0 && total > done ? (long)((double)(total - done) / rate) : 0;
    const char *name = strrchr(filename, '/') ? strrchr(filename, '/') + 1 : filename;
    fprintf(stderr, "\r%-28.28s %3d%% %10s / %-10s %10s/s  ETA %ld:%02ld\033[K", name, pct, a, b, r, eta / 60,
            eta % 60);
    if (finished) {
        fputc('\n', stderr);
        current[0] = '\0';
    }
    fflush(stderr);
}

static ptm_hub_options cli_hub;

void cli_hub_options_init(ptm_hub_options *h)
{
    ptm_hub_options_init(h);
    const char *e = getenv("HF_HUB_DISABLE_PROGRESS_BARS");
    int env_off = e && (!strcasecmp(e, "1") || !strcasecmp(e, "on") || !strcasecmp(e, "yes") || !strcasecmp(e, "true"));
    if (!env_off && !progress_off && isatty(2)) {
        h->progress = draw_progress;
        h->progress_user = NULL;
    }
}

int cli_hub_option(const char *cmd, int argc, char **argv, int *i, ptm_hub_options *h)
{
    const char *a = argv[*i];
    int has = *i + 1 < argc;
    static const char *const with_value[] = {"--revision", "--cache-dir", "--token", "--endpoint", "--subfolder",
                                             "--proxy"};
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
        if (strcmp(a, with_value[k]))
            continue;
        if (!has) {
            fprintf(stderr, "ptm %s: %s needs a value\n", cmd, a);
            return 2;
        }
        const char *v = argv[++*i];
        switch (k) {
        case 0: h->revision = v; break;
        case 1: h->cache_dir = v; break;
        case 2: h->token = v; break;
        case 3: h->endpoint = v; break;
        case 4: h->subfolder = v; break;
        default: h->proxy = v; break;
        }
        return 1;
    }
    if (!strcmp(a, "--force-download")) {
        h->force_download = 1;
        return 1;
    }
    if (!strcmp(a, "--local-files-only")) {
        h->local_files_only = 1;
        return 1;
    }
    if (!strcmp(a, "--no-progress")) {
        progress_off = 1;
        h->progress = NULL;
        return 1;
    }
    return 0;
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
    return cli_hub_option(cmd, argc, argv, i, &cli_hub);
}

void cli_load_options_init(ptm_load_options *o)
{
    ptm_load_options_init(o);
    o->dtype = PTM_DTYPE_AUTO; /* the command line keeps the checkpoint's dtype unless told */
    cli_hub_options_init(&cli_hub);
    o->hub = &cli_hub; /* one command per process: the options live here */
}
