/* SPDX-License-Identifier: Apache-2.0 */
/* unpickle.c - a weights-only pickle interpreter for data.pkl
 * (formats.md §2.4-2.6, appendix B).
 *
 * Only the opcodes torch.load(weights_only=True) accepts are implemented;
 * any other opcode is refused.  A GLOBAL is resolved against a fixed list
 * when it is read (before any REDUCE could use it): collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2/_v3, _rebuild_parameter(_with_state), the
 * torch storage classes and torch dtypes.  Any other global is refused
 * with its name.  Nothing is ever called: REDUCE on OrderedDict makes an
 * empty map, REDUCE on a rebuild function makes a tensor record (checked
 * against its storage), REDUCE on anything else is refused.  Objects live
 * until the end of the run and are freed together; no recursion.  The
 * torch side (globals, persistent ids, rebuilds) is in pickle_torch.c. */
#include "pickle_vm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ptm_status pv_fail(vm *m, ptm_status s, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ptm_error(s, "%s: %s (pickle offset %zu)", m->where, msg, m->op_pos);
}

ptm_status pv_nomem(vm *m) { return pv_fail(m, PTM_ERR_NOMEM, "out of memory"); }

int pv_grow(void **arr, size_t *cap, size_t need, size_t elsz)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 8;
    while (nc < need)
        nc *= 2;
    void *na = realloc(*arr, nc * elsz);
    if (!na)
        return -1;
    *arr = na;
    *cap = nc;
    return 0;
}

obj *pv_new_obj(vm *m, vkind k)
{
    if (pv_grow((void **)&m->objs, &m->cap_objs, m->n_objs + 1, sizeof *m->objs))
        return NULL;
    obj *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->k = k;
    m->objs[m->n_objs++] = o;
    return o;
}

static int push(vm *m, obj *o)
{
    if (!o || pv_grow((void **)&m->stack, &m->cap_stack, m->sp + 1, sizeof *m->stack))
        return -1;
    m->stack[m->sp++] = o;
    return 0;
}

static int append_item(obj *c, obj *v)
{
    if (pv_grow((void **)&c->items, &c->cap, c->n + 1, sizeof *c->items))
        return -1;
    c->items[c->n++] = v;
    return 0;
}

const char *pv_kind_name(const obj *o)
{
    switch (o->k) {
    case V_NONE: return "None";
    case V_BOOL: return "bool";
    case V_INT: return "int";
    case V_FLOAT: return "float";
    case V_STR: return "str";
    case V_TUPLE: return "tuple";
    case V_LIST: return "list";
    case V_DICT: return o->flag ? "OrderedDict" : "dict";
    case V_SET: return "set";
    case V_GLOBAL: return o->s;
    case V_STORAGE: return "storage";
    case V_TENSOR: return "tensor";
    }
    return "?";
}

static int valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* --------------------------------------------------------------- opcodes */

static const char *op_name(uint8_t op)
{
    switch (op) {
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x93: return "STACK_GLOBAL";
    case 0x92: return "NEWOBJ_EX";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'F': return "FLOAT";
    case 'p': return "PUT";
    case 'g': return "GET";
    case 'l': return "LIST";
    case 'd': return "DICT";
    case 'T': return "BINSTRING";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    case 'P': return "PERSID";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    default: return NULL;
    }
}

#define NEED(nb)                                                                                        \
    do {                                                                                                \
        if (m->len - m->pos < (size_t)(nb))                                                             \
            return pv_fail(m, PTM_ERR_FORMAT, "truncated pickle: opcode 0x%02x needs %zu bytes, %zu remain", \
                         op, (size_t)(nb), m->len - m->pos);                                            \
    } while (0)
#define POP(var)                                                                                        \
    do {                                                                                                \
        if (m->sp == 0 || (m->n_marks && m->sp <= m->marks[m->n_marks - 1]))                            \
            return pv_fail(m, PTM_ERR_FORMAT, "stack underflow at opcode 0x%02x", op);                    \
        (var) = m->stack[--m->sp];                                                                      \
    } while (0)
#define PUSH(o)                                                                                         \
    do {                                                                                                \
        if (push(m, (o)))                                                                               \
            return pv_nomem(m);                                                                            \
    } while (0)
#define NEWOBJ(var, kind)                                                                               \
    do {                                                                                                \
        if (!((var) = pv_new_obj(m, (kind))))                                                              \
            return pv_nomem(m);                                                                            \
    } while (0)

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static ptm_status pop_mark(vm *m, uint8_t op, size_t *base)
{
    if (!m->n_marks)
        return pv_fail(m, PTM_ERR_FORMAT, "opcode 0x%02x without a MARK", op);
    *base = m->marks[--m->n_marks];
    return PTM_OK;
}

static ptm_status set_items(vm *m, uint8_t op, obj *d, obj **kv, size_t n)
{
    if (d->k != V_DICT)
        return pv_fail(m, PTM_ERR_FORMAT, "SETITEM(S) on a %s; only dicts are allowed", pv_kind_name(d));
    for (size_t i = 0; i < n; i++)
        if (append_item(d, kv[i]))
            return pv_nomem(m);
    return PTM_OK;
}

static ptm_status memo_put(vm *m, uint8_t op, uint64_t idx)
{
    if (m->sp == 0)
        return pv_fail(m, PTM_ERR_FORMAT, "memo put with an empty stack");
    if (idx >= m->len + MAX_MEMO_SLACK)
        return pv_fail(m, PTM_ERR_FORMAT, "memo index %" PRIu64 " out of range", idx);
    if (idx >= m->n_memo) {
        size_t nn = m->n_memo ? m->n_memo : 64;
        while (nn <= idx)
            nn *= 2;
        obj **nm = realloc(m->memo, nn * sizeof *nm);
        if (!nm)
            return pv_nomem(m);
        memset(nm + m->n_memo, 0, (nn - m->n_memo) * sizeof *nm);
        m->memo = nm;
        m->n_memo = nn;
    }
    m->memo[idx] = m->stack[m->sp - 1];
    return PTM_OK;
}

static ptm_status memo_get(vm *m, uint8_t op, uint64_t idx)
{
    if (idx >= m->n_memo || !m->memo[idx])
        return pv_fail(m, PTM_ERR_FORMAT, "memo index %" PRIu64 " out of range (never stored)", idx);
    PUSH(m->memo[idx]);
    return PTM_OK;
}

static ptm_status run(vm *m, obj **result)
{
    for (;;) {
        m->op_pos = m->pos;
        if (m->pos >= m->len)
            return pv_fail(m, PTM_ERR_FORMAT, "truncated pickle: no STOP opcode");
        uint8_t op = m->p[m->pos++];
        const uint8_t *a = m->p + m->pos;
        obj *o, *x, *y;
        size_t base = 0;
        ptm_status s;
        switch (op) {
        case 0x80: /* PROTO */
            NEED(1);
            m->pos++;
            break;
        case '.': /* STOP */
            POP(o);
            *result = o;
            return PTM_OK;
        case '(': /* MARK */
            if (m->n_marks >= MAX_MARKS)
                return pv_fail(m, PTM_ERR_FORMAT, "MARK nesting deeper than %d", MAX_MARKS);
            if (pv_grow((void **)&m->marks, &m->cap_marks, m->n_marks + 1, sizeof *m->marks))
                return pv_nomem(m);
            m->marks[m->n_marks++] = m->sp;
            break;
        case 'N':
            NEWOBJ(o, V_NONE);
            PUSH(o);
            break;
        case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
            NEWOBJ(o, V_BOOL);
            o->i = op == 0x88;
            PUSH(o);
            break;
        case 'K': /* BININT1 */
            NEED(1);
            NEWOBJ(o, V_INT);
            o->i = a[0];
            m->pos += 1;
            PUSH(o);
            break;
        case 'M': /* BININT2 */
            NEED(2);
            NEWOBJ(o, V_INT);
            o->i = a[0] | a[1] << 8;
            m->pos += 2;
            PUSH(o);
            break;
        case 'J': /* BININT */
            NEED(4);
            NEWOBJ(o, V_INT);
            o->i = (int32_t)rd32(a);
            m->pos += 4;
            PUSH(o);
            break;
        case 0x8a: { /* LONG1 */
            NEED(1);
            size_t n = a[0];
            NEED(1 + n);
            if (n > 8)
                return pv_fail(m, PTM_ERR_UNSUPPORTED, "LONG1 integer of %zu bytes does not fit in 64 bits", n);
            uint64_t v = 0;
            for (size_t i = 0; i < n; i++)
                v |= (uint64_t)a[1 + i] << (8 * i);
            if (n && n < 8 && (a[n] & 0x80))
                v |= ~(uint64_t)0 << (8 * n);
            NEWOBJ(o, V_INT);
            memcpy(&o->i, &v, sizeof v);
            m->pos += 1 + n;
            PUSH(o);
            break;
        }
        case 'G': { /* BINFLOAT, big endian */
            NEED(8);
            uint64_t v = 0;
            for (int i = 0; i < 8; i++)
                v = v << 8 | a[i];
            NEWOBJ(o, V_FLOAT);
            memcpy(&o->f, &v, sizeof v);
            m->pos += 8;
            PUSH(o);
            break;
        }
        case 'X': case 'U': { /* BINUNICODE, SHORT_BINSTRING */
            size_t hl = op == 'X' ? 4 : 1;
            NEED(hl);
            uint64_t n = op == 'X' ? rd32(a) : a[0];
            if (m->len - m->pos - hl < n)
                return pv_fail(m, PTM_ERR_FORMAT, "string declares %" PRIu64 " bytes but only %zu remain", n,
                             m->len - m->pos - hl);
            if (op == 'X' && !valid_utf8(a + hl, (size_t)n))
                return pv_fail(m, PTM_ERR_FORMAT, "BINUNICODE string is not valid UTF-8");
            NEWOBJ(o, V_STR);
            o->s = (const char *)a + hl;
            o->slen = (size_t)n;
            m->pos += hl + (size_t)n;
            PUSH(o);
            break;
        }
        case 'c': { /* GLOBAL module\nname\n */
            const uint8_t *e1 = memchr(a, '\n', m->len - m->pos);
            const uint8_t *e2 = e1 ? memchr(e1 + 1, '\n', (size_t)(m->p + m->len - e1 - 1)) : NULL;
            if (!e2)
                return pv_fail(m, PTM_ERR_FORMAT, "truncated pickle: GLOBAL without two newline-terminated lines");
            size_t ml = (size_t)(e1 - a), nl = (size_t)(e2 - e1 - 1);
            NEWOBJ(o, V_GLOBAL);
            if ((s = pt_resolve_global(m, (const char *)a, ml, (const char *)e1 + 1, nl, o)))
                return s;
            char *full = malloc(ml + nl + 2);
            if (!full)
                return pv_nomem(m);
            memcpy(full, a, ml);
            full[ml] = '.';
            memcpy(full + ml + 1, e1 + 1, nl);
            full[ml + nl + 1] = 0;
            o->s = full;
            o->slen = ml + nl + 1;
            o->n = 0;
            o->cap = (size_t)-1; /* marks `s` as owned */
            m->pos = (size_t)(e2 + 1 - m->p);
            PUSH(o);
            break;
        }
        case 'q': /* BINPUT */
            NEED(1);
            m->pos += 1;
            if ((s = memo_put(m, op, a[0])))
                return s;
            break;
        case 'r': /* LONG_BINPUT */
            NEED(4);
            m->pos += 4;
            if ((s = memo_put(m, op, rd32(a))))
                return s;
            break;
        case 'h': /* BINGET */
            NEED(1);
            m->pos += 1;
            if ((s = memo_get(m, op, a[0])))
                return s;
            break;
        case 'j': /* LONG_BINGET */
            NEED(4);
            m->pos += 4;
            if ((s = memo_get(m, op, rd32(a))))
                return s;
            break;
        case ')': NEWOBJ(o, V_TUPLE); PUSH(o); break;
        case ']': NEWOBJ(o, V_LIST); PUSH(o); break;
        case '}': NEWOBJ(o, V_DICT); PUSH(o); break;
        case 0x8f: NEWOBJ(o, V_SET); PUSH(o); break; /* EMPTY_SET */
        case 't': /* TUPLE */
            if ((s = pop_mark(m, op, &base)))
                return s;
            NEWOBJ(o, V_TUPLE);
            for (size_t i = base; i < m->sp; i++)
                if (append_item(o, m->stack[i]))
                    return pv_nomem(m);
            m->sp = base;
            PUSH(o);
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
            if (m->sp < floor + n)
                return pv_fail(m, PTM_ERR_FORMAT, "stack underflow at TUPLE%zu", n);
            NEWOBJ(o, V_TUPLE);
            for (size_t i = m->sp - n; i < m->sp; i++)
                if (append_item(o, m->stack[i]))
                    return pv_nomem(m);
            m->sp -= n;
            PUSH(o);
            break;
        }
        case 'a': /* APPEND */
            POP(x);
            POP(o);
            if (o->k != V_LIST)
                return pv_fail(m, PTM_ERR_FORMAT, "APPEND on a %s; only lists are allowed", pv_kind_name(o));
            if (append_item(o, x))
                return pv_nomem(m);
            PUSH(o);
            break;
        case 'e': /* APPENDS */
            if ((s = pop_mark(m, op, &base)))
                return s;
            if (base == 0 || (m->n_marks && base <= m->marks[m->n_marks - 1]))
                return pv_fail(m, PTM_ERR_FORMAT, "APPENDS without a list");
            o = m->stack[base - 1];
            if (o->k != V_LIST)
                return pv_fail(m, PTM_ERR_FORMAT, "APPENDS on a %s; only lists are allowed", pv_kind_name(o));
            for (size_t i = base; i < m->sp; i++)
                if (append_item(o, m->stack[i]))
                    return pv_nomem(m);
            m->sp = base;
            break;
        case 's': { /* SETITEM */
            POP(y);
            POP(x);
            POP(o);
            obj *kv[2] = {x, y};
            if ((s = set_items(m, op, o, kv, 2)))
                return s;
            PUSH(o);
            break;
        }
        case 'u': /* SETITEMS */
            if ((s = pop_mark(m, op, &base)))
                return s;
            if (base == 0 || (m->n_marks && base <= m->marks[m->n_marks - 1]))
                return pv_fail(m, PTM_ERR_FORMAT, "SETITEMS without a dict");
            if ((m->sp - base) % 2)
                return pv_fail(m, PTM_ERR_FORMAT, "SETITEMS with an odd number of items");
            if ((s = set_items(m, op, m->stack[base - 1], m->stack + base, m->sp - base)))
                return s;
            m->sp = base;
            break;
        case 'R': /* REDUCE */
            POP(y);
            POP(x);
            if ((s = pt_do_reduce(m, x, y, &o)))
                return s;
            PUSH(o);
            break;
        case 0x81: /* NEWOBJ: cls.__new__(cls, *args) */
            POP(y);
            POP(x);
            if (x->k != V_GLOBAL || x->flag != G_ODICT)
                return pv_fail(m, PTM_ERR_FORMAT, "NEWOBJ on %s, which is not an allowed class", pv_kind_name(x));
            if ((s = pt_do_reduce(m, x, y, &o)))
                return s;
            PUSH(o);
            break;
        case 'b': /* BUILD: state on OrderedDict or tensor is ignored */
            POP(y);
            POP(o);
            if (!((o->k == V_DICT && o->flag) || o->k == V_TENSOR))
                return pv_fail(m, PTM_ERR_FORMAT, "BUILD on a %s; only OrderedDict and tensors are allowed",
                             pv_kind_name(o));
            PUSH(o);
            break;
        case 'Q': /* BINPERSID */
            POP(x);
            if ((s = pt_persistent_load(m, x, &o)))
                return s;
            PUSH(o);
            break;
        default: {
            const char *nm = op_name(op);
            return pv_fail(m, PTM_ERR_FORMAT, "opcode 0x%02x%s%s%s is not allowed in a weights-only load", op,
                         nm ? " (" : "", nm ? nm : "", nm ? ")" : "");
        }
        }
    }
}


ptm_status pt_unpickle(const char *where, const uint8_t *p, size_t len, pt_record_lookup lookup, void *user,
                       pt_pickle_result *out)
{
    vm m;
    memset(&m, 0, sizeof m);
    memset(out, 0, sizeof *out);
    m.where = where;
    m.p = p;
    m.len = len;
    m.lookup = lookup;
    m.user = user;
    m.res = out;
    obj *top = NULL;
    ptm_status s = run(&m, &top);
    if (!s)
        s = pt_collect(&m, top);
    for (size_t i = 0; i < m.n_objs; i++) {
        obj *o = m.objs[i];
        if (o->k == V_GLOBAL && o->cap == (size_t)-1)
            free((void *)o->s);
        else
            free(o->items);
        free(o);
    }
    free(m.objs);
    free(m.stack);
    free(m.marks);
    free(m.memo);
    if (s) {
        /* records got no names yet */
        free(out->t);
        out->t = NULL;
        out->n = 0;
        pt_pickle_result_free(out);
    }
    return s;
}
