/* SPDX-License-Identifier: Apache-2.0 */
/* status.c - status names, thread-local error messages, the log callback. */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PTM_ERRBUF 1024

static _Thread_local char tl_error[PTM_ERRBUF];

const char *ptm_version(void) { return PTM_VERSION_STRING; }

const char *ptm_status_str(ptm_status s)
{
    switch (s) {
    case PTM_OK: return "ok";
    case PTM_ERR_INVALID_ARG: return "invalid argument";
    case PTM_ERR_NOMEM: return "out of memory";
    case PTM_ERR_IO: return "I/O error";
    case PTM_ERR_FORMAT: return "format error";
    case PTM_ERR_NOT_FOUND: return "not found";
    case PTM_ERR_UNSUPPORTED: return "unsupported";
    case PTM_ERR_PLUGIN: return "plugin error";
    case PTM_ERR_ABI: return "ABI mismatch";
    case PTM_ERR_CONFIG: return "config error";
    case PTM_ERR_SHAPE: return "shape mismatch";
    case PTM_ERR_DTYPE: return "dtype error";
    case PTM_ERR_OVERFLOW: return "size overflow";
    case PTM_ERR_BACKEND: return "backend error";
    case PTM_ERR_EXISTS: return "already exists";
    case PTM_ERR_STATE: return "invalid state";
    case PTM_ERR_NETWORK: return "network error";
    case PTM_ERR_REPO_NOT_FOUND: return "repository not found";
    case PTM_ERR_GATED: return "gated or unauthorized";
    case PTM_ERR_REVISION_NOT_FOUND: return "revision not found";
    case PTM_ERR_ENTRY_NOT_FOUND: return "file not found in repository";
    case PTM_ERR_OFFLINE: return "offline and not cached";
    }
    return "unknown status";
}

const char *ptm_last_error(void) { return tl_error; }

void ptm_clear_error(void) { tl_error[0] = '\0'; }

ptm_status ptm_error(ptm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_error, sizeof tl_error, fmt, ap);
    va_end(ap);
    return status;
}

ptm_status ptm_error_prefix(ptm_status status, const char *fmt, ...)
{
    char prefix[PTM_ERRBUF], old[PTM_ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tl_error, sizeof old);
    size_t n = strlen(prefix);
    memcpy(tl_error, prefix, n + 1);
    if (old[0] && n + 2 < sizeof tl_error) {
        memcpy(tl_error + n, ": ", 3);
        size_t room = sizeof tl_error - n - 3;
        size_t ol = strlen(old);
        if (ol > room)
            ol = room;
        memcpy(tl_error + n + 2, old, ol);
        tl_error[n + 2 + ol] = '\0';
    }
    return status;
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static ptm_log_fn log_fn;
static void *log_ud;
static ptm_log_level log_min = PTM_LOG_INFO;

void ptm_set_log_callback(ptm_log_fn fn, void *user_data, ptm_log_level min_level)
{
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_ud = user_data;
    log_min = min_level;
    pthread_mutex_unlock(&log_mu);
}

void ptm_log(ptm_log_level level, const char *fmt, ...)
{
    pthread_mutex_lock(&log_mu);
    ptm_log_fn fn = log_fn;
    void *ud = log_ud;
    ptm_log_level min = log_min;
    pthread_mutex_unlock(&log_mu);
    if (!fn || level < min)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(level, msg, ud);
}

void ptm_free(void *ptr) { free(ptr); }

const char *ptm_op_name(ptm_op op)
{
    static const char *const names[PTM_OP_COUNT] = {
        "alloc", "free", "upload", "download", "copy", "fill", "matmul", "add", "mul", "scale",
        "gelu", "silu", "relu", "swiglu", "layer_norm", "rms_norm", "softmax", "embedding", "rope",
        "attention", "kv_append", "convert", "contiguous", "concat", "argmax",
    };
    if ((int)op < 0 || op >= PTM_OP_COUNT)
        return "?";
    return names[op];
}
