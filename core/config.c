/* SPDX-License-Identifier: Apache-2.0 */
/* config.c - config.json kept whole in a cJSON tree.
 *
 * Numbers keep their source spelling in item->valuestring (cJSON frees it
 * with the item), so "1.0" and 1e-05 survive a round trip.  The writer
 * reproduces Python's json.dumps(obj, indent=2, sort_keys=True) + "\n". */
#include "config_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *origin_of(const ptm_config *c) { return c && c->origin ? c->origin : "config"; }

/* ------------------------------------------------------------ parsing */

/* Advance past the next number literal in `text` (skipping strings);
 * returns its start and length, or NULL when none is left. */
static const char *next_number(const char **pos, const char *end, size_t *len)
{
    const char *p = *pos;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            p++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            const char *s = p;
            while (p < end && (strchr("+-.eE", *p) || (*p >= '0' && *p <= '9')))
                p++;
            *len = (size_t)(p - s);
            *pos = p;
            return s;
        } else {
            p++;
        }
    }
    *pos = p;
    return NULL;
}

/* Attach literals to number items in document (pre)order. */
static int attach_literals(cJSON *item, const char **pos, const char *end)
{
    for (; item; item = item->next) {
        if (cJSON_IsNumber(item)) {
            size_t len;
            const char *s = next_number(pos, end, &len);
            if (!s)
                return -1;
            char *lit = malloc(len + 1);
            if (!lit)
                return -1;
            memcpy(lit, s, len);
            lit[len] = '\0';
            item->valuestring = lit;
        }
        if (item->child && attach_literals(item->child, pos, end) != 0)
            return -1;
    }
    return 0;
}

/* Python's json keeps the last of duplicate keys: drop earlier ones. */
static void dedupe_keys(cJSON *obj)
{
    for (cJSON *it = obj ? obj->child : NULL; it; it = it->next)
        if (it->child)
            dedupe_keys(it);
    if (!cJSON_IsObject(obj))
        return;
    cJSON *it = obj->child;
    while (it) {
        cJSON *next = it->next;
        for (cJSON *later = next; later; later = later->next)
            if (later->string && it->string && strcmp(later->string, it->string) == 0) {
                cJSON_Delete(cJSON_DetachItemViaPointer(obj, it));
                break;
            }
        it = next;
    }
}

ptm_status ptm_config_parse(const char *text, size_t len, const char *origin, ptm_config **out)
{
    if (!text || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_config_parse: NULL argument");
    const char *name = origin ? origin : "config";
    const char *endp = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &endp, 0);
    if (!root) {
        size_t off = endp && endp >= text ? (size_t)(endp - text) : 0;
        return ptm_error(PTM_ERR_CONFIG, "%s: not valid JSON (error near byte %zu)", name, off);
    }
    for (const char *p = endp; p && p < text + len; p++)
        if (!strchr(" \t\r\n", *p) && *p) {
            cJSON_Delete(root);
            return ptm_error(PTM_ERR_CONFIG, "%s: not valid JSON (trailing data at byte %zu)", name,
                             (size_t)(p - text));
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ptm_error(PTM_ERR_CONFIG, "%s: the top level must be a JSON object", name);
    }
    const char *pos = text;
    if (attach_literals(root->child, &pos, text + len) != 0) {
        cJSON_Delete(root);
        return ptm_error(PTM_ERR_NOMEM, "%s: out of memory", name);
    }
    dedupe_keys(root);
    ptm_config *c = calloc(1, sizeof *c);
    if (!c || (origin && !(c->origin = ptm__strdup(origin)))) {
        free(c);
        cJSON_Delete(root);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    c->root = root;
    *out = c;
    return PTM_OK;
}

ptm_status ptm_config_load(const char *path, ptm_config **out)
{
    char *data;
    size_t len;
    ptm_status s = ptm__read_file(path, &data, &len);
    if (s)
        return s;
    s = ptm_config_parse(data, len, path, out);
    free(data);
    return s;
}

ptm_status ptm_config_new(ptm_config **out) { return ptm_config_parse("{}", 2, NULL, out); }

ptm_status ptm_config_clone(const ptm_config *cfg, ptm_config **out)
{
    if (!cfg || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_config_clone: NULL argument");
    ptm_config *c = calloc(1, sizeof *c);
    if (!c)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    c->root = cJSON_Duplicate(cfg->root, 1);
    c->origin = ptm__strdup(cfg->origin);
    if (!c->root || (cfg->origin && !c->origin)) {
        ptm_config_free(c);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    *out = c;
    return PTM_OK;
}

void ptm_config_free(ptm_config *cfg)
{
    if (!cfg)
        return;
    cJSON_Delete(cfg->root);
    free(cfg->origin);
    free(cfg);
}

const char *ptm_config_origin(const ptm_config *cfg) { return cfg ? cfg->origin : NULL; }

/* ------------------------------------------------------------ writing */


/* Python repr() of a float. */
static void py_float(double v, char *out, size_t outlen)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outlen, v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    char buf[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* buf = [-]d.ddde[+-]XX : split digits and exponent */
    char digits[32];
    size_t nd = 0;
    int neg = buf[0] == '-';
    const char *p = buf + neg;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    digits[nd] = '\0';
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = '\0';
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (exp >= -5 && exp < 16) { /* Python: repr uses fixed notation when -4 <= exp10 < 16 */
        if (exp < -4)
            goto sci;
        if (exp < 0) {
            o += (size_t)snprintf(out + o, outlen - o, "0.");
            for (int i = -1; i > exp; i--)
                out[o++] = '0';
            snprintf(out + o, outlen - o, "%s", digits);
        } else {
            for (int i = 0; i <= exp || i < (int)nd; i++) {
                if (i == exp + 1)
                    out[o++] = '.';
                out[o++] = i < (int)nd ? digits[i] : '0';
            }
            if ((int)nd <= exp + 1) {
                out[o++] = '.';
                out[o++] = '0';
            }
            out[o] = '\0';
        }
        return;
    }
sci:
    out[o++] = digits[0];
    if (nd > 1) {
        out[o++] = '.';
        for (size_t i = 1; i < nd; i++)
            out[o++] = digits[i];
    }
    snprintf(out + o, outlen - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

static int key_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static void indent(ptm__sbuf *b, int depth)
{
    ptm__sb_put(b, "\n", 1);
    for (int i = 0; i < depth; i++)
        ptm__sb_put(b, "  ", 2);
}

static void put_value(ptm__sbuf *b, const cJSON *v, int depth)
{
    char num[64];
    if (cJSON_IsNull(v)) ptm__sb_puts(b, "null");
    else if (cJSON_IsTrue(v)) ptm__sb_puts(b, "true");
    else if (cJSON_IsFalse(v)) ptm__sb_puts(b, "false");
    else if (cJSON_IsNumber(v)) {
        if (v->valuestring)
            ptm__sb_puts(b, v->valuestring);
        else {
            py_float(v->valuedouble, num, sizeof num);
            ptm__sb_puts(b, num);
        }
    } else if (cJSON_IsString(v)) ptm__sb_json_string(b, v->valuestring ? v->valuestring : "");
    else if (cJSON_IsArray(v)) {
        if (!v->child) {
            ptm__sb_puts(b, "[]");
            return;
        }
        ptm__sb_put(b, "[", 1);
        for (const cJSON *it = v->child; it; it = it->next) {
            indent(b, depth + 1);
            put_value(b, it, depth + 1);
            if (it->next)
                ptm__sb_put(b, ",", 1);
        }
        indent(b, depth);
        ptm__sb_put(b, "]", 1);
    } else if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *it = v->child; it; it = it->next)
            n++;
        if (!n) {
            ptm__sb_puts(b, "{}");
            return;
        }
        const cJSON **items = malloc(n * sizeof *items);
        if (!items) {
            b->oom = 1;
            return;
        }
        n = 0;
        for (const cJSON *it = v->child; it; it = it->next)
            items[n++] = it;
        qsort(items, n, sizeof *items, key_cmp);
        ptm__sb_put(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            indent(b, depth + 1);
            ptm__sb_json_string(b, items[i]->string);
            ptm__sb_puts(b, ": ");
            put_value(b, items[i], depth + 1);
            if (i + 1 < n)
                ptm__sb_put(b, ",", 1);
        }
        free(items);
        indent(b, depth);
        ptm__sb_put(b, "}", 1);
    } else {
        ptm__sb_puts(b, "null");
    }
}

ptm_status ptm_config_to_json(const ptm_config *cfg, char **out)
{
    if (!cfg || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_config_to_json: NULL argument");
    ptm__sbuf b = {0};
    put_value(&b, cfg->root, 0);
    ptm__sb_put(&b, "\n", 1);
    if (b.oom) {
        free(b.p);
        return ptm_error(PTM_ERR_NOMEM, "out of memory serialising %s", origin_of(cfg));
    }
    *out = b.p;
    return PTM_OK;
}

ptm_status ptm_config_save(const ptm_config *cfg, const char *path)
{
    char *text;
    ptm_status s = ptm_config_to_json(cfg, &text);
    if (s)
        return s;
    s = ptm__write_file_atomic(path, text, strlen(text));
    free(text);
    return s;
}

/* ------------------------------------------------------------ lookups */

/* Find `key`: an exact top-level key first, then a dotted path. */
static cJSON *lookup(const ptm_config *cfg, const char *key)
{
    if (!cfg || !key)
        return NULL;
    cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg->root, key);
    if (it || !strchr(key, '.'))
        return it;
    char part[256];
    cJSON *cur = cfg->root;
    const char *p = key;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, part) : NULL;
        p += n + (dot ? 1 : 0);
    }
    return cur;
}

/* An integral value of a number item, exact for 64-bit literals. */
static int item_int(const cJSON *it, int64_t *out)
{
    if (!cJSON_IsNumber(it))
        return 0;
    if (it->valuestring && !strpbrk(it->valuestring, ".eE")) {
        char *end;
        long long v = strtoll(it->valuestring, &end, 10);
        if (*end == '\0') {
            *out = v;
            return 1;
        }
    }
    double d = it->valuedouble;
    if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
        return 0;
    *out = (int64_t)d;
    return 1;
}

int ptm_config_has(const ptm_config *cfg, const char *key) { return lookup(cfg, key) != NULL; }

int64_t ptm_config_int(const ptm_config *cfg, const char *key, int64_t dflt)
{
    int64_t v;
    return item_int(lookup(cfg, key), &v) ? v : dflt;
}

double ptm_config_float(const ptm_config *cfg, const char *key, double dflt)
{
    cJSON *it = lookup(cfg, key);
    return cJSON_IsNumber(it) ? it->valuedouble : dflt;
}

int ptm_config_bool(const ptm_config *cfg, const char *key, int dflt)
{
    cJSON *it = lookup(cfg, key);
    return cJSON_IsBool(it) ? cJSON_IsTrue(it) : dflt;
}

const char *ptm_config_string(const ptm_config *cfg, const char *key, const char *dflt)
{
    cJSON *it = lookup(cfg, key);
    return cJSON_IsString(it) ? it->valuestring : dflt;
}

size_t ptm_config_array_size(const ptm_config *cfg, const char *key)
{
    cJSON *it = lookup(cfg, key);
    return cJSON_IsArray(it) ? (size_t)cJSON_GetArraySize(it) : 0;
}

const char *ptm_config_array_string(const ptm_config *cfg, const char *key, size_t i)
{
    cJSON *it = lookup(cfg, key);
    if (!cJSON_IsArray(it) || i > (size_t)INT32_MAX)
        return NULL;
    cJSON *e = cJSON_GetArrayItem(it, (int)i);
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

int ptm_config_array_int(const ptm_config *cfg, const char *key, size_t i, int64_t *out)
{
    cJSON *it = lookup(cfg, key);
    if (!cJSON_IsArray(it) || i > (size_t)INT32_MAX || !out)
        return 0;
    return item_int(cJSON_GetArrayItem(it, (int)i), out);
}

ptm_status ptm_config_get_int(const ptm_config *cfg, const char *key, int64_t *out)
{
    cJSON *it = lookup(cfg, key);
    if (!it || cJSON_IsNull(it))
        return ptm_error(PTM_ERR_CONFIG, "%s: missing key \"%s\"", origin_of(cfg), key);
    if (!item_int(it, out))
        return ptm_error(PTM_ERR_CONFIG, "%s: key \"%s\" must be an integer", origin_of(cfg), key);
    return PTM_OK;
}

ptm_status ptm_config_get_float(const ptm_config *cfg, const char *key, double *out)
{
    cJSON *it = lookup(cfg, key);
    if (!it || cJSON_IsNull(it))
        return ptm_error(PTM_ERR_CONFIG, "%s: missing key \"%s\"", origin_of(cfg), key);
    if (!cJSON_IsNumber(it))
        return ptm_error(PTM_ERR_CONFIG, "%s: key \"%s\" must be a number", origin_of(cfg), key);
    *out = it->valuedouble;
    return PTM_OK;
}

ptm_status ptm_config_get_string(const ptm_config *cfg, const char *key, const char **out)
{
    cJSON *it = lookup(cfg, key);
    if (!it || cJSON_IsNull(it))
        return ptm_error(PTM_ERR_CONFIG, "%s: missing key \"%s\"", origin_of(cfg), key);
    if (!cJSON_IsString(it))
        return ptm_error(PTM_ERR_CONFIG, "%s: key \"%s\" must be a string", origin_of(cfg), key);
    *out = it->valuestring;
    return PTM_OK;
}

/* ------------------------------------------------------------ setters */

/* Put `item` at `key` (taking ownership), creating intermediate objects. */
static ptm_status put_item(ptm_config *cfg, const char *key, cJSON *item)
{
    if (!cfg || !key || !item) {
        cJSON_Delete(item);
        return ptm_error(item ? PTM_ERR_INVALID_ARG : PTM_ERR_NOMEM, "ptm_config_set: bad argument");
    }
    cJSON *parent = cfg->root;
    const char *leaf = key;
    char part[256];
    if (!cJSON_GetObjectItemCaseSensitive(cfg->root, key)) {
        const char *dot;
        while ((dot = strchr(leaf, '.'))) {
            size_t n = (size_t)(dot - leaf);
            if (n >= sizeof part) {
                cJSON_Delete(item);
                return ptm_error(PTM_ERR_INVALID_ARG, "config key too long: %s", key);
            }
            memcpy(part, leaf, n);
            part[n] = '\0';
            cJSON *child = cJSON_GetObjectItemCaseSensitive(parent, part);
            if (!cJSON_IsObject(child)) {
                if (child)
                    cJSON_DeleteItemFromObjectCaseSensitive(parent, part);
                child = cJSON_AddObjectToObject(parent, part);
                if (!child) {
                    cJSON_Delete(item);
                    return ptm_error(PTM_ERR_NOMEM, "out of memory");
                }
            }
            parent = child;
            leaf = dot + 1;
        }
    }
    return ptm__cjson_put(parent, leaf, item);
}

ptm_status ptm__cjson_put(cJSON *obj, const char *key, cJSON *item)
{
    int ok = cJSON_GetObjectItemCaseSensitive(obj, key) ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)
                                                         : cJSON_AddItemToObject(obj, key, item);
    if (!ok) {
        cJSON_Delete(item);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    return PTM_OK;
}

static cJSON *number_with_literal(double v, const char *lit)
{
    cJSON *it = cJSON_CreateNumber(v);
    if (it && !(it->valuestring = ptm__strdup(lit))) {
        cJSON_Delete(it);
        return NULL;
    }
    return it;
}

ptm_status ptm_config_set_int(ptm_config *cfg, const char *key, int64_t v)
{
    char lit[32];
    snprintf(lit, sizeof lit, "%lld", (long long)v);
    return put_item(cfg, key, number_with_literal((double)v, lit));
}

ptm_status ptm_config_set_float(ptm_config *cfg, const char *key, double v)
{
    char lit[64];
    py_float(v, lit, sizeof lit);
    return put_item(cfg, key, number_with_literal(v, lit));
}

ptm_status ptm_config_set_bool(ptm_config *cfg, const char *key, int v) { return put_item(cfg, key, cJSON_CreateBool(v)); }
ptm_status ptm_config_set_null(ptm_config *cfg, const char *key) { return put_item(cfg, key, cJSON_CreateNull()); }

ptm_status ptm_config_set_string(ptm_config *cfg, const char *key, const char *v)
{
    if (!v)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_config_set_string: NULL value for \"%s\"", key ? key : "");
    return put_item(cfg, key, cJSON_CreateString(v));
}

ptm_status ptm_config_set_string_array(ptm_config *cfg, const char *key, const char *const *v, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *s = cJSON_CreateString(v[i]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    return put_item(cfg, key, arr);
}

ptm_status ptm_config_set_json(ptm_config *cfg, const char *key, const char *json)
{
    if (!json)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_config_set_json: NULL value for \"%s\"", key ? key : "");
    /* Parse through the document parser so number literals are kept. */
    char *wrapped = ptm__asprintf("{\"v\":%s}", json);
    if (!wrapped)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ptm_config *tmp;
    ptm_status s = ptm_config_parse(wrapped, strlen(wrapped), NULL, &tmp);
    free(wrapped);
    if (s)
        return ptm_error(PTM_ERR_CONFIG, "value for \"%s\" is not valid JSON: %s", key ? key : "", json);
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(tmp->root, "v");
    ptm_config_free(tmp);
    return put_item(cfg, key, v);
}

void ptm_config_remove(ptm_config *cfg, const char *key)
{
    if (!cfg || !key)
        return;
    if (cJSON_GetObjectItemCaseSensitive(cfg->root, key)) {
        cJSON_DeleteItemFromObjectCaseSensitive(cfg->root, key);
        return;
    }
    const char *dot = strrchr(key, '.');
    if (!dot)
        return;
    char parent[256];
    size_t n = (size_t)(dot - key);
    if (n >= sizeof parent)
        return;
    memcpy(parent, key, n);
    parent[n] = '\0';
    cJSON *p = lookup(cfg, parent);
    if (cJSON_IsObject(p))
        cJSON_DeleteItemFromObjectCaseSensitive(p, dot + 1);
}

size_t ptm_config_size(const ptm_config *cfg) { return cfg ? (size_t)cJSON_GetArraySize(cfg->root) : 0; }

const char *ptm_config_key(const ptm_config *cfg, size_t i)
{
    if (!cfg || i > (size_t)INT32_MAX)
        return NULL;
    cJSON *it = cJSON_GetArrayItem(cfg->root, (int)i);
    return it ? it->string : NULL;
}
