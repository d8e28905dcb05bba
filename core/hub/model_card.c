/* SPDX-License-Identifier: Apache-2.0 */
/* model_card.c - README.md for push_to_hub: a new card with YAML front
 * matter (library_name, tags) the way huggingface_hub serialises card
 * metadata, or tags merged into an existing card, whose text, other
 * metadata and line endings are kept byte for byte (spec hub.md §6.9). */
#include "hub_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* A tag as a YAML scalar: plain when that reads back as the same string,
 * else single-quoted ('' for a quote), as PyYAML's safe_dump chooses. */
static void cb_yaml_scalar(ptm__sbuf *b, const char *s)
{
    static const char *const special[] = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", NULL};
    int plain = (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z');
    for (const char *p = s; *p && plain; p++)
        plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                *p == '_' || *p == '.' || *p == '/' || *p == '+';
    for (int i = 0; special[i] && plain; i++) {
        size_t n = strlen(special[i]);
        int same = strlen(s) == n;
        for (size_t k = 0; k < n && same; k++) {
            char c = s[k];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            same = c == special[i][k];
        }
        plain = !same;
    }
    if (plain) {
        ptm__sb_puts(b, s);
        return;
    }
    ptm__sb_put(b, "'", 1);
    for (const char *p = s; *p; p++)
        ptm__sb_put(b, *p == '\'' ? "''" : p, *p == '\'' ? 2 : 1);
    ptm__sb_put(b, "'", 1);
}

/* The value of a YAML scalar as written in a card: quotes removed ('' and
 * simple \" escapes undone), a trailing " # comment" and spaces dropped.
 * malloc'd. */
static char *yaml_value(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    if (n && (s[0] == '\'' || s[0] == '"')) {
        char q = s[0];
        for (size_t i = 1; i < n; i++) {
            if (s[i] == q) {
                if (q == '\'' && i + 1 < n && s[i + 1] == '\'') {
                    out[k++] = '\'';
                    i++;
                    continue;
                }
                break;
            }
            if (q == '"' && s[i] == '\\' && i + 1 < n)
                i++;
            out[k++] = s[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '#' && i && (s[i - 1] == ' ' || s[i - 1] == '\t'))
                break;
            out[k++] = s[i];
        }
        while (k && (out[k - 1] == ' ' || out[k - 1] == '\t'))
            k--;
    }
    out[k] = '\0';
    return out;
}

typedef struct {
    const char *start; /* line text without its line break */
    size_t len;
    size_t end; /* offset just past its line break (within the block) */
} line_t;

/* Split [s, s+n) into lines (LF or CRLF). */
static line_t *split_lines(const char *s, size_t n, size_t *count)
{
    size_t cap = 16, c = 0;
    line_t *v = malloc(cap * sizeof *v);
    for (size_t i = 0; v && i < n;) {
        size_t j = i;
        while (j < n && s[j] != '\n')
            j++;
        size_t len = j - i;
        if (len && s[i + len - 1] == '\r')
            len--;
        if (c == cap) {
            line_t *w = realloc(v, (cap *= 2) * sizeof *v);
            if (!w) {
                free(v);
                return NULL;
            }
            v = w;
        }
        v[c].start = s + i;
        v[c].len = len;
        v[c].end = j < n ? j + 1 : n;
        c++;
        i = j < n ? j + 1 : n;
    }
    *count = c;
    return v;
}

static int in_list(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s))
            return 1;
    return 0;
}

static int is_lb(char c) { return c == '\r' || c == '\n'; }

/* huggingface_hub's front-matter block: optional leading whitespace, a
 * "---" line, the YAML, a "---" line (or "---" at the very end).  Offsets
 * of the YAML [*y0, *y1) and of the text after the closing line (*body). */
static int find_front_matter(const char *s, size_t n, size_t *y0, size_t *y1, size_t *body)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
        i++;
    if (n - i < 3 || memcmp(s + i, "---", 3) != 0)
        return 0;
    size_t h0 = i + 3, h1 = h0;
    while (h1 < n && is_lb(s[h1]))
        h1++;
    if (h1 == h0)
        return 0;
    for (size_t start = h1; start > h0 && start + 1 >= h1; start--) {
        for (size_t p = start; p < n; p++) {
            if (!is_lb(s[p]))
                continue;
            size_t q = p;
            while (q < n && is_lb(s[q]))
                q++;
            if (n - q < 3 || memcmp(s + q, "---", 3) != 0)
                continue;
            size_t r = q + 3;
            if (r == n || s[r] == '\n' || (s[r] == '\r' && r + 1 < n && s[r + 1] == '\n')) {
                *y0 = start;
                *y1 = p;
                *body = r == n ? n : s[r] == '\n' ? r + 1 : r + 2;
                return 1;
            }
        }
    }
    return 0;
}

static void put_tag_lines(ptm__sbuf *b, char **tags, size_t n, const char *indent, size_t ilen, const char *lb)
{
    for (size_t i = 0; i < n; i++) {
        ptm__sb_put(b, indent, ilen);
        ptm__sb_puts(b, "- ");
        cb_yaml_scalar(b, tags[i]);
        ptm__sb_puts(b, lb);
    }
}

/* The YAML block `y` (n bytes, no trailing line break) with `add` appended
 * to its top-level tags list; *changed = 0 when every tag is there. */
static ptm_status merge_tags(const char *y, size_t n, const char *const *add, const char *lb, ptm__sbuf *out, int *changed)
{
    size_t nl = 0;
    line_t *lines = split_lines(y, n, &nl);
    if (!lines && n)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    char **have = calloc(nl + 1, sizeof *have);
    size_t nhave = 0;
    ptm_status s = have ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
    size_t key = nl, first = nl, last = nl; /* the tags: line, its first and last item */
    int block = 0;
    for (size_t i = 0; i < nl && !s && key == nl; i++)
        if (lines[i].len >= 5 && !memcmp(lines[i].start, "tags:", 5))
            key = i;
    if (!s && key < nl) {
        const char *v = lines[key].start + 5;
        size_t vl = lines[key].len - 5;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        if (!vl || *v == '#') { /* block list on the following lines */
            block = 1;
            for (size_t i = key + 1; i < nl && !s; i++) {
                const char *t = lines[i].start;
                size_t k = 0;
                while (k < lines[i].len && t[k] == ' ')
                    k++;
                if (k + 1 < lines[i].len && t[k] == '-' && t[k + 1] == ' ') {
                    if (first == nl)
                        first = i;
                    last = i;
                    char *val = yaml_value(t + k + 2, lines[i].len - k - 2);
                    if (!val)
                        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
                    else
                        have[nhave++] = val;
                } else if (k == lines[i].len || (k < lines[i].len && t[k] == '#')) {
                    continue; /* blank or comment line inside the list */
                } else {
                    break;
                }
            }
        } else if (*v == '[') { /* flow list: [a, b] */
            size_t i = 1;
            while (i < vl && v[i] != ']' && !s) {
                size_t j = i;
                char q = 0;
                while (j < vl && (q || (v[j] != ',' && v[j] != ']'))) {
                    if (!q && (v[j] == '\'' || v[j] == '"'))
                        q = v[j];
                    else if (q && v[j] == q)
                        q = 0;
                    j++;
                }
                char *val = yaml_value(v + i, j - i);
                if (!val)
                    s = ptm_error(PTM_ERR_NOMEM, "out of memory");
                else if (*val && nhave < nl)
                    have[nhave++] = val;
                else
                    free(val);
                i = j < vl && v[j] == ',' ? j + 1 : j;
            }
        } else { /* one scalar tag */
            char *val = yaml_value(v, vl);
            if (!val)
                s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            else
                have[nhave++] = val;
        }
    }
    /* the new tags, in order, without duplicates */
    size_t nadd = 0;
    for (size_t i = 0; add && add[i]; i++)
        nadd++;
    char **fresh = calloc(nadd + 1, sizeof *fresh);
    size_t nfresh = 0;
    if (!s && !fresh)
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nadd && !s; i++)
        if (!in_list(have, nhave, add[i]) && !in_list(fresh, nfresh, add[i]))
            fresh[nfresh++] = (char *)add[i];
    *changed = nfresh > 0;
    if (!s && !nfresh) {
        ptm__sb_put(out, y, n);
    } else if (!s && key == nl) { /* no tags key: a new one at the end */
        ptm__sb_put(out, y, n);
        if (n)
            ptm__sb_puts(out, lb);
        ptm__sb_puts(out, "tags:");
        ptm__sb_puts(out, lb);
        put_tag_lines(out, fresh, nfresh, "", 0, lb);
        out->len -= strlen(lb); /* the block ends without a line break */
    } else if (!s && block && first < nl) { /* append after the last item, same indentation */
        size_t ilen = 0;
        while (lines[first].start[ilen] == ' ')
            ilen++;
        size_t cut = lines[last].end;
        ptm__sb_put(out, y, cut);
        if (cut == n)
            ptm__sb_puts(out, lb);
        put_tag_lines(out, fresh, nfresh, lines[first].start, ilen, lb);
        if (cut == n)
            out->len -= strlen(lb);
        else
            ptm__sb_put(out, y + cut, n - cut);
    } else if (!s) { /* rewrite the key as a block list: old items, then new */
        size_t kstart = (size_t)(lines[key].start - y);
        size_t kend = lines[key].end;
        ptm__sb_put(out, y, kstart);
        ptm__sb_puts(out, "tags:");
        ptm__sb_puts(out, lb);
        put_tag_lines(out, have, nhave, "", 0, lb);
        put_tag_lines(out, fresh, nfresh, "", 0, lb);
        if (kend == n)
            out->len -= strlen(lb);
        else
            ptm__sb_put(out, y + kend, n - kend);
    }
    for (size_t i = 0; have && i < nhave; i++)
        free(have[i]);
    free(have);
    free(fresh);
    free(lines);
    if (!s && out->oom)
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    return s;
}

ptm_status ptm__model_card(const char *existing, size_t len, const char *repo_id, const char *const *tags, char **out,
                           size_t *out_len, int *changed)
{
    ptm__sbuf b = {0};
    ptm_status s = PTM_OK;
    *changed = 1;
    if (!existing) {
        /* a new card: library_name then tags, block style, as the Python
         * library dumps ModelCardData; then our own body */
        ptm__sb_puts(&b, "---\nlibrary_name: transformers\n");
        size_t n = 0;
        char **uniq = NULL;
        for (size_t i = 0; tags && tags[i]; i++)
            n++;
        uniq = calloc(n + 1, sizeof *uniq);
        if (!uniq) {
            free(b.p);
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        }
        size_t nu = 0;
        for (size_t i = 0; i < n; i++)
            if (!in_list(uniq, nu, tags[i]))
                uniq[nu++] = (char *)tags[i];
        if (!nu)
            ptm__sb_puts(&b, "tags: []\n");
        else {
            ptm__sb_puts(&b, "tags:\n");
            put_tag_lines(&b, uniq, nu, "", 0, "\n");
        }
        free(uniq);
        const char *name = strrchr(repo_id, '/');
        ptm__sb_puts(&b, "---\n\n# ");
        ptm__sb_puts(&b, name ? name + 1 : repo_id);
        ptm__sb_puts(&b, "\n\nA transformers model (config.json and weights) uploaded with ptm. This card was written "
                    "automatically: add what the model is, how it was trained and what it is for.\n");
    } else {
        int crlf = 0;
        for (size_t i = 0; i + 1 < len && !crlf; i++)
            crlf = existing[i] == '\r' && existing[i + 1] == '\n';
        const char *lb = crlf ? "\r\n" : "\n";
        size_t y0, y1, body;
        if (find_front_matter(existing, len, &y0, &y1, &body)) {
            ptm__sb_put(&b, existing, y0);
            s = merge_tags(existing + y0, y1 - y0, tags, lb, &b, changed);
            ptm__sb_put(&b, existing + y1, len - y1);
        } else {
            /* no metadata yet: a block holding just the tags, then the card */
            int any = tags && tags[0];
            if (any) {
                ptm__sb_puts(&b, "---");
                ptm__sb_puts(&b, lb);
                s = merge_tags("", 0, tags, lb, &b, changed);
                ptm__sb_puts(&b, lb);
                ptm__sb_puts(&b, "---");
                ptm__sb_puts(&b, lb);
            } else {
                *changed = 0;
            }
            ptm__sb_put(&b, existing, len);
        }
    }
    if (!s && b.oom)
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    if (s) {
        free(b.p);
        return s;
    }
    if (!b.p) {
        b.p = calloc(1, 1);
        if (!b.p)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    *out = b.p;
    *out_len = b.len;
    return PTM_OK;
}
