/* SPDX-License-Identifier: Apache-2.0 */
/* status.h - status codes, thread-local error messages and logging.
 * Included by every other ptm header. */
#ifndef PTM_STATUS_H
#define PTM_STATUS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PTM_API __attribute__((visibility("default")))
#define PTM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PTM_API
#define PTM_PRINTF(fmt, args)
#endif

/* Every fallible call returns a ptm_status: PTM_OK (0) or a negative code.
 * The human-readable detail (naming the file, tensor, key or offset) is read
 * with ptm_last_error() on the same thread.  Since 0.1. */
typedef enum ptm_status {
    PTM_OK = 0,
    PTM_ERR_INVALID_ARG = -1,   /* a caller passed a bad argument            */
    PTM_ERR_NOMEM = -2,         /* an allocation failed                      */
    PTM_ERR_IO = -3,            /* open/read/write/mmap/rename failed        */
    PTM_ERR_FORMAT = -4,        /* a file's bytes break its format's rules   */
    PTM_ERR_NOT_FOUND = -5,     /* a file, key, tensor or name is missing    */
    PTM_ERR_UNSUPPORTED = -6,   /* valid input that this build cannot handle */
    PTM_ERR_PLUGIN = -7,        /* a plugin failed to load or register       */
    PTM_ERR_ABI = -8,           /* plugin ABI version mismatch               */
    PTM_ERR_CONFIG = -9,        /* config.json is invalid or incomplete      */
    PTM_ERR_SHAPE = -10,        /* tensor shapes do not agree                */
    PTM_ERR_DTYPE = -11,        /* tensor dtypes do not agree / unsupported  */
    PTM_ERR_OVERFLOW = -12,     /* a size computation overflowed             */
    PTM_ERR_BACKEND = -13,      /* a compute backend failed                  */
    PTM_ERR_EXISTS = -14,       /* a name is already registered              */
    PTM_ERR_STATE = -15,        /* the object is not in a state for the call */
    /* Hugging Face Hub (since 0.2): */
    PTM_ERR_NETWORK = -16,      /* connection failed, timed out, bad answer  */
    PTM_ERR_REPO_NOT_FOUND = -17, /* no such repository (or private)        */
    PTM_ERR_GATED = -18,        /* gated repo, or 401/403: token / access    */
    PTM_ERR_REVISION_NOT_FOUND = -19, /* no such branch, tag or commit      */
    PTM_ERR_ENTRY_NOT_FOUND = -20, /* no such file in the repo at the rev   */
    PTM_ERR_OFFLINE = -21       /* offline (or unreachable) and not cached   */
} ptm_status;

/* A constant English name of a status ("format error", ...).  Never NULL. */
PTM_API const char *ptm_status_str(ptm_status status);

/* The message of the last failing ptm call on this thread ("" if none).
 * The pointer stays valid until the next ptm call on this thread. */
PTM_API const char *ptm_last_error(void);

/* Record an error message for this thread and return `status` unchanged, so
 * plugins can write `return ptm_error(PTM_ERR_FORMAT, "%s: ...", path);`.
 * Messages longer than 1023 bytes are truncated. */
PTM_API ptm_status ptm_error(ptm_status status, const char *fmt, ...) PTM_PRINTF(2, 3);

/* Prefix the current thread's message with "prefix: " (adds context while an
 * error travels up).  Returns `status`. */
PTM_API ptm_status ptm_error_prefix(ptm_status status, const char *fmt, ...) PTM_PRINTF(2, 3);

/* Clear this thread's message. */
PTM_API void ptm_clear_error(void);

typedef enum ptm_log_level {
    PTM_LOG_DEBUG = 0,
    PTM_LOG_INFO = 1,
    PTM_LOG_WARN = 2,
    PTM_LOG_ERROR = 3
} ptm_log_level;

/* The library never prints.  Messages go to this callback (process-wide);
 * with no callback set they are dropped.  `message` has no trailing newline
 * and is valid only during the call.  The callback may be called from any
 * thread; it must not call back into ptm. */
typedef void (*ptm_log_fn)(ptm_log_level level, const char *message, void *user_data);

/* Set (or clear with NULL) the log callback and the lowest level delivered.
 * Thread-safe. */
PTM_API void ptm_set_log_callback(ptm_log_fn fn, void *user_data, ptm_log_level min_level);

/* Send a message to the log callback (for plugins and the core). */
PTM_API void ptm_log(ptm_log_level level, const char *fmt, ...) PTM_PRINTF(2, 3);

/* Free memory that a ptm function returned (strings, arrays).  NULL is fine. */
PTM_API void ptm_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
