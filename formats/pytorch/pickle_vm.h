/* SPDX-License-Identifier: Apache-2.0 */
/* pickle_vm.h - the object model shared by the pickle interpreter
 * (unpickle.c: opcodes, stack, memo) and its torch side (pickle_torch.c:
 * the allowed globals, persistent ids, tensor rebuilds, the state dict).
 * Internal to the pytorch plugin. */
#ifndef PT_PICKLE_VM_H
#define PT_PICKLE_VM_H

#include "pt_internal.h"

#define MAX_MARKS 4096       /* torch's state dicts need 3 */
#define MAX_MEMO_SLACK 65536 /* memo indexes beyond len + this are refused */

typedef enum {
    V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_SET,
    V_GLOBAL, V_STORAGE, V_TENSOR
} vkind;

typedef enum {
    G_ODICT, G_REBUILD_V2, G_REBUILD_V3, G_REBUILD_PARAM, G_REBUILD_PARAM_STATE, G_STORAGE, G_UNTYPED, G_DTYPE
} gkind;

typedef struct obj obj;
struct obj {
    vkind k;
    int flag;          /* V_DICT: 1 = OrderedDict; V_GLOBAL: gkind */
    int64_t i;         /* V_BOOL, V_INT; V_GLOBAL: dtype; V_STORAGE: storage index; V_TENSOR: record index */
    double f;
    const char *s;     /* V_STR (into the pickle bytes), V_GLOBAL: "module.name" */
    size_t slen;
    obj **items;       /* tuple/list items, dict keys and values interleaved */
    size_t n, cap;
};

typedef struct vm {
    const char *where;
    const uint8_t *p;
    size_t len, pos, op_pos;
    obj **objs;
    size_t n_objs, cap_objs;
    obj **stack;
    size_t sp, cap_stack;
    size_t *marks;
    size_t n_marks, cap_marks;
    obj **memo;
    size_t n_memo;
    pt_record_lookup lookup;
    void *user;
    pt_pickle_result *res;
    size_t cap_t, cap_st;
} vm;

ptm_status pv_fail(vm *m, ptm_status s, const char *fmt, ...) PTM_PRINTF(3, 4);
ptm_status pv_nomem(vm *m);
int pv_grow(void **arr, size_t *cap, size_t need, size_t elsz);
obj *pv_new_obj(vm *m, vkind k);
const char *pv_kind_name(const obj *o);

/* GLOBAL module.name: fill `g` or refuse (naming the global). */
ptm_status pt_resolve_global(vm *m, const char *mod, size_t ml, const char *nm, size_t nl, obj *g);
/* BINPERSID on `pid`. */
ptm_status pt_persistent_load(vm *m, obj *pid, obj **out);
/* REDUCE (and NEWOBJ) of fn(*args). */
ptm_status pt_do_reduce(vm *m, obj *fn, obj *args, obj **out);
/* The unpickled top object -> the result's named tensors. */
ptm_status pt_collect(vm *m, obj *top);

#endif
