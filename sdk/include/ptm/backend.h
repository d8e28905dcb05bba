/* SPDX-License-Identifier: Apache-2.0 */
/* backend.h - the vtable of a compute backend plugin.
 *
 * ABI 1.0 carries the identity of a backend and its devices, which is what
 * the registry, `ptm plugins` and device selection need.  Memory and kernel
 * entries are appended (ABI minor bump) by the CPU backend's arrival; a
 * vtable compiled against 1.0 keeps working because the core reads only the
 * members its struct_size covers. */
#ifndef PTM_BACKEND_H
#define PTM_BACKEND_H

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ptm_backend {
    size_t struct_size;      /* sizeof(ptm_backend) as compiled by the plugin */
    const char *name;        /* registry name, e.g. "cpu", "vulkan" */
    const char *description;
    /* Number of usable devices (0 = none present: the backend is registered
     * but cannot run).  Required. */
    int (*device_count)(void);
    /* Human-readable name of device `index` into buf (NUL-terminated).
     * Optional (NULL: the core shows "<name>:<index>"). */
    ptm_status (*device_name)(int index, char *buf, size_t buflen);
    /* 1 if the backend implements `op` for compute dtype `dt`.  Optional
     * (NULL: nothing is supported, every op falls back to the CPU). */
    int (*supports)(ptm_op op, ptm_dtype dt);
} ptm_backend;

#ifdef __cplusplus
}
#endif
#endif
