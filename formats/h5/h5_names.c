/* SPDX-License-Identifier: Apache-2.0 */
/* h5_names.c - TF/Keras <-> PyTorch names and layouts (formats.md §4.3):
 * transformers' convert_tf_weight_name_to_pt_weight_name step by step, its
 * inverse for the writer, Keras' to_snake_case for the model name, and the
 * axis permutations of apply_transpose. */
#include "h5_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Replace every non-overlapping `from` by `to` (to no longer than from),
 * left to right, in place. */
static void replace_all(char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    char *w = s;
    for (const char *r = s; *r;) {
        if (strncmp(r, from, fl) == 0) {
            memcpy(w, to, tl);
            w += tl;
            r += fl;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* re.sub(r"/[^/]*___([^/]*)/", r"/\1/", s), in place. */
static void strip_triple_underscore(char *s)
{
    char *w = s;
    const char *r = s;
    while (*r) {
        if (*r == '/') {
            const char *end = strchr(r + 1, '/');
            if (end) {
                const char *last = NULL;
                for (const char *p = r + 1; p + 3 <= end; p++)
                    if (p[0] == '_' && p[1] == '_' && p[2] == '_')
                        last = p;
                if (last) {
                    /* the match consumes both slashes */
                    *w++ = '/';
                    size_t n = (size_t)(end - (last + 3));
                    memmove(w, last + 3, n);
                    w += n;
                    *w++ = '/';
                    r = end + 1;
                    continue;
                }
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
}

ptm_status h5p_tf_to_pt(const char *tf, int drop_first, int rank, char **out, int *kind)
{
    size_t n = strlen(tf);
    char *s = malloc(n + 32);
    if (!s)
        return PTM_ERR_NOMEM;
    memcpy(s, tf, n + 1);
    replace_all(s, ":0", "");
    strip_triple_underscore(s);
    replace_all(s, "_._", "/");
    /* collapse repeated slashes */
    char *w = s;
    for (const char *r = s; *r; r++)
        if (!(*r == '/' && w > s && w[-1] == '/'))
            *w++ = *r;
    *w = '\0';
    char *start = s;
    if (drop_first) {
        char *slash = strchr(s, '/');
        if (slash)
            start = slash + 1;
    }
    /* every component must be non-empty */
    if (!*start || start[strlen(start) - 1] == '/' || *start == '/') {
        free(s);
        return PTM_ERR_FORMAT;
    }
    char *last = strrchr(start, '/');
    last = last ? last + 1 : start;
    int k = H5P_T_NO;
    int projs = 0;
    for (const char *c = start; c;) {
        const char *e = strchr(c, '/');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if ((l == 9 && !strncmp(c, "emb_projs", 9)) || (l == 9 && !strncmp(c, "out_projs", 9)))
            projs = 1;
        c = e ? e + 1 : NULL;
    }
    if (!strcmp(last, "kernel") && rank == 4)
        k = H5P_T_CONV2D;
    else if (!strcmp(last, "kernel") || !strcmp(last, "pointwise_kernel") || !strcmp(last, "depthwise_kernel") ||
             projs)
        k = H5P_T_SIMPLE; /* CONV1D (rank 3) is axes (2,1,0): the same reversal */
    if (!strcmp(last, "kernel") || !strcmp(last, "embeddings") || !strcmp(last, "gamma"))
        strcpy(last, "weight");
    else if (!strcmp(last, "beta"))
        strcpy(last, "bias");
    else if (!strcmp(last, "pointwise_kernel"))
        strcpy(last, "pointwise.weight");
    else if (!strcmp(last, "depthwise_kernel"))
        strcpy(last, "depthwise.weight");
    for (char *p = start; *p; p++)
        if (*p == '/')
            *p = '.';
    char *res = malloc(strlen(start) + 1);
    if (!res) {
        free(s);
        return PTM_ERR_NOMEM;
    }
    strcpy(res, start);
    free(s);
    *out = res;
    *kind = k;
    return PTM_OK;
}

static int is_up(char c) { return c >= 'A' && c <= 'Z'; }
static int is_low(char c) { return c >= 'a' && c <= 'z'; }
static int is_lowdig(char c) { return is_low(c) || (c >= '0' && c <= '9'); }

char *h5p_keras_model_name(const char *class_name)
{
    size_t n = strlen(class_name) + 2;
    char *name = malloc(n + 1), *mid = malloc(2 * n + 1), *res = malloc(4 * n + 8);
    if (!name || !mid || !res) {
        free(name);
        free(mid);
        free(res);
        return NULL;
    }
    strcpy(name, "TF");
    strcat(name, class_name);
    /* re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name) */
    size_t w = 0;
    for (size_t i = 0; name[i];) {
        if (name[i] != '\n' && name[i + 1] && is_up(name[i + 1]) && is_lowdig(name[i + 2])) {
            size_t k = i + 2;
            while (is_lowdig(name[k]))
                k++;
            mid[w++] = name[i];
            mid[w++] = '_';
            memcpy(mid + w, name + i + 1, k - i - 1);
            w += k - i - 1;
            i = k;
        } else {
            mid[w++] = name[i++];
        }
    }
    mid[w] = '\0';
    /* re.sub("([a-z])([A-Z])", r"\1_\2", mid).lower(); "private" before a leading "_" */
    w = 0;
    if (mid[0] == '_') {
        strcpy(res, "private");
        w = 7;
    }
    for (size_t i = 0; mid[i];) {
        if (is_low(mid[i]) && is_up(mid[i + 1])) {
            res[w++] = mid[i];
            res[w++] = '_';
            res[w++] = (char)tolower((unsigned char)mid[i + 1]);
            i += 2;
        } else {
            res[w++] = (char)tolower((unsigned char)mid[i]);
            i++;
        }
    }
    res[w] = '\0';
    free(name);
    free(mid);
    return res;
}

static int all_digits(const char *c, size_t l)
{
    if (!l)
        return 0;
    for (size_t i = 0; i < l; i++)
        if (c[i] < '0' || c[i] > '9')
            return 0;
    return 1;
}

ptm_status h5p_pt_to_tf(const char *model, const char *pt, int role, int rank, int first_embedding, int conv1d,
                        char **layer, char **var, int *kind)
{
    size_t n = strlen(pt), ml = strlen(model);
    char *v = malloc(ml + 3 * n + 32);
    if (!v)
        return PTM_ERR_NOMEM;
    memcpy(v, model, ml);
    size_t w = ml;
    const char *c = pt;
    int first = 1;
    while (c) {
        const char *e = strchr(c, '.');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (!first && all_digits(c, l)) {
            memcpy(v + w, "_._", 3); /* "h.0" -> "h_._0" */
            w += 3;
        } else {
            v[w++] = '/';
        }
        memcpy(v + w, c, l);
        w += l;
        first = 0;
        c = e ? e + 1 : NULL;
    }
    v[w] = '\0';
    /* rename the last component (only a trailing "weight"/"bias") */
    const char *tail = strrchr(pt, '.');
    tail = tail ? tail + 1 : pt;
    const char *rep = NULL;
    int k = H5P_T_NO;
    if (!strcmp(tail, "weight")) {
        if (role == PTM_ROLE_NORM_WEIGHT)
            rep = "gamma";
        else if (role == PTM_ROLE_EMBEDDING)
            rep = first_embedding ? "weight" : "embeddings";
        else if ((role == PTM_ROLE_WEIGHT || role == PTM_ROLE_OUTPUT_EMBEDDING) && rank >= 2 && !conv1d) {
            rep = "kernel";
            k = rank == 4 ? H5P_T_CONV2D : H5P_T_SIMPLE;
        }
    } else if (!strcmp(tail, "bias") && role == PTM_ROLE_NORM_BIAS) {
        rep = "beta";
    }
    if (rep) {
        w -= strlen(tail);
        strcpy(v + w, rep);
        w += strlen(rep);
    }
    memcpy(v + w, ":0", 3);
    /* the layer: the component after the model name */
    const char *ls = v + ml + 1, *le = strchr(ls, '/');
    size_t ll = le ? (size_t)(le - ls) : strlen(ls);
    if (!le) /* a single-component name: its own layer, without ":0" */
        ll -= 2;
    char *lay = malloc(ll + 1);
    if (!lay) {
        free(v);
        return PTM_ERR_NOMEM;
    }
    memcpy(lay, ls, ll);
    lay[ll] = '\0';
    *layer = lay;
    *var = v;
    *kind = k;
    return PTM_OK;
}

static void make_perm(int nd, int kind, int to_pt, int *perm)
{
    for (int d = 0; d < nd; d++)
        perm[d] = kind == H5P_T_NO ? d : nd - 1 - d;
    if (kind == H5P_T_CONV2D && nd == 4) {
        static const int tf2pt[4] = {3, 2, 0, 1}, pt2tf[4] = {2, 3, 1, 0};
        memcpy(perm, to_pt ? tf2pt : pt2tf, sizeof tf2pt);
    }
}

void h5p_perm_shape(int nd, const int64_t *shape, int kind, int to_pt, int64_t *oshape)
{
    int perm[PTM_MAX_DIMS];
    make_perm(nd, kind, to_pt, perm);
    for (int d = 0; d < nd; d++)
        oshape[d] = shape[perm[d]];
}

void h5p_transpose(const void *src, void *dst, size_t esize, int nd, const int64_t *shape, int kind, int to_pt,
                   int64_t *oshape)
{
    int perm[PTM_MAX_DIMS];
    make_perm(nd, kind, to_pt, perm);
    int64_t istride[PTM_MAX_DIMS], ostr[PTM_MAX_DIMS], idx[PTM_MAX_DIMS];
    int64_t total = 1;
    for (int d = nd - 1; d >= 0; d--) {
        istride[d] = total;
        total *= shape[d];
    }
    for (int d = 0; d < nd; d++) {
        oshape[d] = shape[perm[d]];
        ostr[d] = istride[perm[d]];
        idx[d] = 0;
    }
    const unsigned char *s = src;
    unsigned char *o = dst;
    int64_t off = 0;
    for (int64_t i = 0; i < total; i++) {
        memcpy(o + (size_t)i * esize, s + (size_t)off * esize, esize);
        for (int d = nd - 1; d >= 0; d--) {
            off += ostr[d];
            if (++idx[d] < oshape[d])
                break;
            off -= ostr[d] * oshape[d];
            idx[d] = 0;
        }
    }
}
