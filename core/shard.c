/* SPDX-License-Identifier: Apache-2.0 */
/* shard.c - the pieces of transformers 4.37's sharded save_pretrained:
 * max_shard_size strings (convert_file_size_to_int), the greedy shard split
 * of shard_checkpoint, shard file names, the index JSON (json.dumps with
 * indent=2, sort_keys=True, ensure_ascii) and the removal of weight files a
 * previous save left behind. */
#include "shard.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ size strings */

/* Python int() on text[0, len): surrounding whitespace, an optional sign,
 * ASCII digits with single underscores between them.  Only non-negative
 * values that fit 63 bits are accepted here. */
static int parse_py_int(const char *text, size_t len, uint64_t *out)
{
    size_t i = 0, e = len;
    while (i < e && (text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r')))
        i++;
    while (e > i && (text[e - 1] == ' ' || (text[e - 1] >= '\t' && text[e - 1] <= '\r')))
        e--;
    if (i < e && text[i] == '+')
        i++;
    if (i == e || text[i] == '_' || text[e - 1] == '_')
        return 0;
    uint64_t v = 0;
    for (; i < e; i++) {
        if (text[i] == '_') {
            if (text[i + 1] == '_')
                return 0;
            continue;
        }
        if (text[i] < '0' || text[i] > '9')
            return 0;
        if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, (uint64_t)(text[i] - '0'), &v))
            return 0;
    }
    if (v > INT64_MAX)
        return 0;
    *out = v;
    return 1;
}

static int ends_with_ci(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    if (len < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[len - n + i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c != suffix[i])
            return 0;
    }
    return 1;
}

ptm_status ptm_parse_file_size(const char *text, uint64_t *bytes)
{
    if (!text || !bytes)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_parse_file_size: NULL argument");
    static const struct {
        const char *unit;
        uint64_t mult;
        int bits_if_lower_b; /* decimal units: a trailing lower-case 'b' means bits */
    } units[] = {
        {"GIB", 1ull << 30, 0}, {"MIB", 1ull << 20, 0}, {"KIB", 1ull << 10, 0},
        {"GB", 1000000000ull, 1}, {"MB", 1000000ull, 1}, {"KB", 1000ull, 1},
    };
    size_t len = strlen(text);
    uint64_t v = 0;
    int ok = 0;
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        if (!ends_with_ci(text, len, units[u].unit))
            continue;
        size_t ulen = strlen(units[u].unit);
        ok = parse_py_int(text, len - ulen, &v) && !__builtin_mul_overflow(v, units[u].mult, &v);
        if (ok && units[u].bits_if_lower_b && text[len - 1] == 'b')
            v /= 8;
        break;
    }
    /* A plain number is a byte count (what an int max_shard_size is). */
    if (!ok && len && text[len - 1] >= '0' && text[len - 1] <= '9')
        ok = parse_py_int(text, len, &v);
    if (!ok)
        return ptm_error(PTM_ERR_INVALID_ARG,
                         "max_shard_size \"%s\" is not in a valid format: use an integer followed by a unit "
                         "(\"5GB\", \"200MB\", \"10GiB\", \"1KB\") or a byte count",
                         text);
    if (v == 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "max_shard_size \"%s\" is zero bytes", text);
    *bytes = v;
    return PTM_OK;
}

/* ------------------------------------------------------------ splitting */

ptm_status ptm__shard_plan(const ptm_state_dict *sd, uint64_t max_bytes, ptm__shard_plan_t *plan)
{
    memset(plan, 0, sizeof *plan);
    size_t n = ptm_state_dict_size(sd);
    plan->shard_of = calloc(n ? n : 1, sizeof *plan->shard_of);
    if (!plan->shard_of)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    /* Sizes in eighths of a byte: 4.37's dtype_byte_size gives bool 1/8. */
    uint64_t max8 = max_bytes > UINT64_MAX / 8 ? UINT64_MAX : max_bytes * 8;
    uint64_t cur8 = 0, total8 = 0;
    size_t cur_count = 0, shard = 0;
    for (size_t i = 0; i < n; i++) {
        const ptm_tensor *t = ptm_state_dict_tensor(sd, i);
        ptm_dtype dt = ptm_tensor_dtype(t);
        uint64_t per8 = dt == PTM_BOOL ? 1 : (uint64_t)ptm_dtype_size(dt) * 8;
        uint64_t sz8;
        if (dt == PTM_BOOL)
            plan->total_is_float = 1;
        if (__builtin_mul_overflow((uint64_t)ptm_tensor_numel(t), per8, &sz8) ||
            __builtin_add_overflow(total8, sz8, &total8)) {
            free(plan->shard_of);
            plan->shard_of = NULL;
            return ptm_error(PTM_ERR_OVERFLOW, "tensor \"%s\": size overflows", ptm_state_dict_name(sd, i));
        }
        /* a new shard when this tensor does not fit and the current one
         * holds something: an oversized tensor ends up alone */
        uint64_t sum8;
        int over = __builtin_add_overflow(cur8, sz8, &sum8) || sum8 > max8;
        if (over && cur_count) {
            shard++;
            cur8 = 0;
            cur_count = 0;
        }
        plan->shard_of[i] = shard;
        cur8 += sz8;
        cur_count++;
    }
    plan->nshards = shard + 1;
    plan->total_size8 = total8;
    return PTM_OK;
}

void ptm__shard_plan_free(ptm__shard_plan_t *plan)
{
    free(plan->shard_of);
    plan->shard_of = NULL;
}

char *ptm__shard_file_name(const char *weights_name, const char *ext, size_t k, size_t n)
{
    size_t len = strlen(weights_name), el = ext ? strlen(ext) : 0;
    size_t stem = len;
    if (el && len > el && strcmp(weights_name + len - el, ext) == 0)
        stem = len - el;
    else {
        const char *dot = strrchr(weights_name, '.');
        if (dot)
            stem = (size_t)(dot - weights_name);
    }
    return ptm__asprintf("%.*s-%05zu-of-%05zu%s", (int)stem, weights_name, k + 1, n, weights_name + stem);
}

/* ------------------------------------------------------------ index JSON */

/* total_size as Python prints it: an int, or (once a bool tensor made it a
 * float) the shortest repr of the float. */
static void sb_total(ptm__sbuf *b, uint64_t total8, int is_float)
{
    char tmp[64];
    if (!is_float) {
        snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)(total8 / 8));
    } else if (total8 / 8 < 10000000000000000ull && total8 / 8 < (1ull << 50)) {
        /* exact: a multiple of 1/8 below 2^50 is a double with <= 3 decimals */
        static const char *const frac[8] = {"0", "125", "25", "375", "5", "625", "75", "875"};
        snprintf(tmp, sizeof tmp, "%llu.%s", (unsigned long long)(total8 / 8), frac[total8 % 8]);
    } else {
        double d = (double)total8 / 8.0;
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
    }
    ptm__sb_puts(b, tmp);
}

typedef struct {
    const char *name;
    size_t shard;
} wm_entry;

static int wm_cmp(const void *a, const void *b)
{
    return strcmp(((const wm_entry *)a)->name, ((const wm_entry *)b)->name);
}

ptm_status ptm__shard_index_json(const ptm_state_dict *sd, const ptm__shard_plan_t *plan, char *const *shard_names,
                                 char **out)
{
    size_t n = ptm_state_dict_size(sd);
    wm_entry *e = malloc((n ? n : 1) * sizeof *e);
    if (!e)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        e[i].name = ptm_state_dict_name(sd, i);
        e[i].shard = plan->shard_of[i];
    }
    /* sort_keys: Python compares code points, which strcmp on UTF-8 matches */
    qsort(e, n, sizeof *e, wm_cmp);
    ptm__sbuf b = {0};
    ptm__sb_puts(&b, "{\n  \"metadata\": {\n    \"total_size\": ");
    sb_total(&b, plan->total_size8, plan->total_is_float);
    ptm__sb_puts(&b, "\n  },\n  \"weight_map\": {");
    for (size_t i = 0; i < n; i++) {
        ptm__sb_puts(&b, i ? ",\n    " : "\n    ");
        ptm__sb_json_string(&b, e[i].name);
        ptm__sb_puts(&b, ": ");
        ptm__sb_json_string(&b, shard_names[e[i].shard]);
    }
    ptm__sb_puts(&b, n ? "\n  }\n}\n" : "}\n}\n");
    free(e);
    if (b.oom) {
        free(b.p);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    *out = b.p;
    return PTM_OK;
}

/* ------------------------------------------------------------ stale files */

/* `name` with every ".bin" and ".safetensors" removed (Python's chained
 * str.replace). */
static char *strip_weight_exts(const char *name)
{
    char *r = ptm__strdup(name);
    if (!r)
        return NULL;
    static const char *const exts[] = {".bin", ".safetensors"};
    for (size_t k = 0; k < 2; k++) {
        size_t el = strlen(exts[k]);
        char *w = r;
        for (const char *p = r; *p;) {
            if (strncmp(p, exts[k], el) == 0) {
                p += el;
                continue;
            }
            *w++ = *p++;
        }
        *w = '\0';
    }
    return r;
}

/* name ends with "-DDDDD-of-DDDDD" (exactly five digits each) */
static int has_shard_suffix(const char *s)
{
    size_t l = strlen(s);
    if (l < 15)
        return 0;
    const char *p = s + l - 15;
    for (int i = 0; i < 15; i++) {
        int digit = (i >= 1 && i <= 5) || i >= 10;
        if (digit ? !(p[i] >= '0' && p[i] <= '9') : p[i] != "-00000-of-00000"[i])
            return 0;
    }
    return 1;
}

ptm_status ptm__remove_stale_weights(const char *dir, const char *weights_name, const char *index_name,
                                     char *const *keep, size_t nkeep, int sharded)
{
    char *stem = strip_weight_exts(weights_name);
    DIR *d = stem ? opendir(dir) : NULL;
    if (!stem) {
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    if (!d) {
        ptm_status s = ptm_error(PTM_ERR_IO, "%s: cannot list folder: %s", dir, strerror(errno));
        free(stem);
        return s;
    }
    ptm_status s = PTM_OK;
    size_t sl = strlen(stem);
    struct dirent *de;
    while (!s && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        int stale = 0;
        if (strncmp(name, stem, sl) == 0) {
            int kept = 0;
            for (size_t i = 0; i < nkeep && !kept; i++)
                kept = strcmp(name, keep[i]) == 0;
            char *bare = kept ? NULL : strip_weight_exts(name);
            if (!kept && !bare) {
                s = ptm_error(PTM_ERR_NOMEM, "out of memory");
                break;
            }
            stale = bare && has_shard_suffix(bare);
            free(bare);
        }
        /* beyond transformers: the single file when the new save is sharded
         * and the index when it is not, which a loader would otherwise pick */
        if (index_name && (sharded ? strcmp(name, weights_name) == 0 : strcmp(name, index_name) == 0))
            stale = 1;
        if (!stale)
            continue;
        char *path = ptm__path_join(dir, name);
        if (!path) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            break;
        }
        if (ptm__is_file(path)) {
            if (unlink(path) != 0 && errno != ENOENT)
                s = ptm_error(PTM_ERR_IO, "%s: cannot remove the stale weights file: %s", path, strerror(errno));
            else
                ptm_log(PTM_LOG_INFO, "removed %s, left by a previous save", path);
        }
        free(path);
    }
    closedir(d);
    free(stem);
    return s;
}
