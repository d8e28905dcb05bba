/* SPDX-License-Identifier: Apache-2.0 */
/* backend.h - the vtable of a compute backend plugin.
 *
 * A backend names itself and its devices, creates a per-exec state (thread
 * pool, device queue, ...) and provides kernels through a ptm_backend_ops
 * table (ops.h).  Tensors are host memory in this ABI; device-resident
 * buffers come with the first GPU backend.  The core reads only the members
 * that struct_size covers, so vtables may only grow at the end. */
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
    /* 1 if the backend's kernel for `op` handles compute dtype `dt`; 0 sends
     * the op to the CPU backend.  Optional (NULL: every non-NULL slot of
     * ops is used). */
    int (*supports)(ptm_op op, ptm_dtype dt);
    /* Create the state one exec uses on device `device` with `num_threads`
     * CPU threads (> 0, already resolved from PTM_NUM_THREADS / cores).
     * Optional (NULL: the state is NULL). */
    ptm_status (*init)(int device, int num_threads, void **state);
    /* Free a state from init.  Optional. */
    void (*shutdown)(void *state);
    /* Kernels.  Optional (NULL: every op runs on the CPU backend). */
    const ptm_backend_ops *ops;
} ptm_backend;

#ifdef __cplusplus
}
#endif
#endif
