/* SPDX-License-Identifier: Apache-2.0 */
/* st_json.c - the strict JSON pull parser of the safetensors plugin. */
#include "st_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_AFTER_OPEN = 0, ST_AFTER_COMMA, ST_AFTER_KEY, ST_AFTER_VALUE };

struct stj_slot {
    uint32_t gen;
    uint32_t hash;
    size_t off; /* into the level's keys */
    size_t len;
};

/* ------------------------------------------------------------------ UTF-8 */

int stj_utf8_check(const uint8_t *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0; /* no overlongs */
            else if (c == 0xED)
                hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F; /* <= U+10FFFF */
        } else {
            *bad = i;
            return 0;
        }
        if (n - i < len) {
            *bad = i;
            return 0;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            *bad = i;
            return 0;
        }
        for (size_t k = 2; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                *bad = i;
                return 0;
            }
        }
        i += len;
    }
    return 1;
}

/* ----------------------------------------------------------------- quoting */

void stj_quote(const char *s, size_t n, size_t max, char *out, size_t outsz)
{
    size_t o = 0;
    if (outsz < 8) {
        if (outsz)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        size_t tl;
        size_t adv = 1;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            tl = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            tl = 6;
        } else if (c < 0x80) {
            tmp[0] = (char)c;
            tl = 1;
        } else {
            /* copy a whole UTF-8 sequence (or one stray byte) */
            adv = 1;
            while (i + adv < n && adv < 4 && ((unsigned char)s[i + adv] & 0xC0) == 0x80)
                adv++;
            memcpy(tmp, s + i, adv);
            tl = adv;
        }
        if (i + adv > max || o + tl + 5 > outsz) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, tmp, tl);
        o += tl;
        i += adv;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* ----------------------------------------------------------------- parser */

#ifdef __GNUC__
#define PTM_ST_PRINTF __attribute__((format(printf, 4, 5)))
#else
#define PTM_ST_PRINTF
#endif
static stj_err fail(stj_parser *p, stj_err e, const uint8_t *at, const char *fmt, ...) PTM_ST_PRINTF;

static stj_err fail(stj_parser *p, stj_err e, const uint8_t *at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, sizeof p->err, "%s at file offset %zu", msg, p->base + (size_t)(at - p->begin));
    return e;
}

static stj_err nomem(stj_parser *p)
{
    snprintf(p->err, sizeof p->err, "out of memory while parsing the header");
    return STJ_ENOMEM;
}

void stj_init(stj_parser *p, const uint8_t *buf, size_t len, size_t base)
{
    memset(p, 0, sizeof *p);
    p->begin = p->cur = buf;
    p->end = buf + len;
    p->base = base;
}

void stj_free(stj_parser *p)
{
    for (int i = 0; i < STJ_MAX_DEPTH; i++) {
        free(p->levels[i].keys);
        free(p->levels[i].slots);
    }
    free(p->str);
    memset(p, 0, sizeof *p);
}

static void skip_ws(stj_parser *p)
{
    while (p->cur < p->end && (*p->cur == ' ' || *p->cur == '\t' || *p->cur == '\n' || *p->cur == '\r'))
        p->cur++;
}

static int str_reserve(stj_parser *p, size_t extra)
{
    if (extra > SIZE_MAX - p->str_len - 1)
        return 0;
    size_t need = p->str_len + extra + 1;
    if (need <= p->str_cap)
        return 1;
    size_t cap = p->str_cap ? p->str_cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *n = realloc(p->str, cap);
    if (!n)
        return 0;
    p->str = n;
    p->str_cap = cap;
    return 1;
}

static int hex4(const uint8_t *s, const uint8_t *end, uint32_t *out)
{
    if (end - s < 4)
        return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* p->cur is at the opening quote. */
static stj_err parse_string(stj_parser *p)
{
    const uint8_t *start = p->cur;
    p->cur++;
    p->str_len = 0;
    p->str_has_nul = 0;
    if (!str_reserve(p, 0))
        return nomem(p);
    for (;;) {
        if (p->cur >= p->end)
            return fail(p, STJ_ESYNTAX, start, "unterminated string");
        uint8_t c = *p->cur;
        if (c == '"') {
            p->cur++;
            break;
        }
        if (c < 0x20)
            return fail(p, STJ_ESYNTAX, p->cur, "unescaped control character 0x%02x in string", c);
        if (c != '\\') {
            const uint8_t *s = p->cur;
            while (p->cur < p->end && *p->cur != '"' && *p->cur != '\\' && *p->cur >= 0x20)
                p->cur++;
            size_t n = (size_t)(p->cur - s);
            if (!str_reserve(p, n))
                return nomem(p);
            memcpy(p->str + p->str_len, s, n);
            p->str_len += n;
            continue;
        }
        const uint8_t *esc = p->cur;
        p->cur++;
        if (p->cur >= p->end)
            return fail(p, STJ_ESYNTAX, start, "unterminated string");
        char ch;
        uint32_t cp = 0;
        switch (*p->cur++) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u':
            ch = 0;
            if (!hex4(p->cur, p->end, &cp))
                return fail(p, STJ_ESYNTAX, esc, "invalid \\u escape");
            p->cur += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (p->end - p->cur < 6 || p->cur[0] != '\\' || p->cur[1] != 'u' ||
                    !hex4(p->cur + 2, p->end, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return fail(p, STJ_ESYNTAX, esc, "unpaired surrogate \\u%04X in string", (unsigned)cp);
                p->cur += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(p, STJ_ESYNTAX, esc, "unpaired surrogate \\u%04X in string", (unsigned)cp);
            }
            break;
        default:
            return fail(p, STJ_ESYNTAX, esc, "invalid escape in string");
        }
        if (!str_reserve(p, 4))
            return nomem(p);
        char *o = p->str + p->str_len;
        if (ch) {
            *o = ch;
            p->str_len += 1;
        } else if (cp < 0x80) {
            if (cp == 0)
                p->str_has_nul = 1;
            o[0] = (char)cp;
            p->str_len += 1;
        } else if (cp < 0x800) {
            o[0] = (char)(0xC0 | (cp >> 6));
            o[1] = (char)(0x80 | (cp & 0x3F));
            p->str_len += 2;
        } else if (cp < 0x10000) {
            o[0] = (char)(0xE0 | (cp >> 12));
            o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            o[2] = (char)(0x80 | (cp & 0x3F));
            p->str_len += 3;
        } else {
            o[0] = (char)(0xF0 | (cp >> 18));
            o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
            o[3] = (char)(0x80 | (cp & 0x3F));
            p->str_len += 4;
        }
    }
    p->str[p->str_len] = '\0';
    return STJ_OK;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static stj_err parse_number(stj_parser *p, stj_tok *tok)
{
    const uint8_t *s = p->cur;
    int neg = 0, frac = 0, exp = 0, ovf = 0;
    uint64_t v = 0;
    if (*p->cur == '-') {
        neg = 1;
        p->cur++;
    }
    if (p->cur >= p->end || !is_digit(*p->cur))
        return fail(p, STJ_ESYNTAX, s, "invalid number");
    if (*p->cur == '0') {
        p->cur++;
        if (p->cur < p->end && is_digit(*p->cur))
            return fail(p, STJ_ESYNTAX, s, "invalid number (leading zero)");
    } else {
        while (p->cur < p->end && is_digit(*p->cur)) {
            unsigned d = (unsigned)(*p->cur - '0');
            if (v > (UINT64_MAX - d) / 10)
                ovf = 1;
            else
                v = v * 10 + d;
            p->cur++;
        }
    }
    if (p->cur < p->end && *p->cur == '.') {
        frac = 1;
        p->cur++;
        if (p->cur >= p->end || !is_digit(*p->cur))
            return fail(p, STJ_ESYNTAX, s, "invalid number (no digit after '.')");
        while (p->cur < p->end && is_digit(*p->cur))
            p->cur++;
    }
    if (p->cur < p->end && (*p->cur == 'e' || *p->cur == 'E')) {
        exp = 1;
        p->cur++;
        if (p->cur < p->end && (*p->cur == '+' || *p->cur == '-'))
            p->cur++;
        if (p->cur >= p->end || !is_digit(*p->cur))
            return fail(p, STJ_ESYNTAX, s, "invalid number (no digit in exponent)");
        while (p->cur < p->end && is_digit(*p->cur))
            p->cur++;
    }
    p->raw = (const char *)s;
    p->raw_len = (size_t)(p->cur - s);
    if (!neg && !frac && !exp && !ovf) {
        p->u = v;
        *tok = STJ_UINT;
    } else {
        *tok = STJ_NUMBER;
    }
    return STJ_OK;
}

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

/* Add p->str to the key set of level L; STJ_EDUP if present. */
static stj_err add_key(stj_parser *p, stj_level *L, const uint8_t *at)
{
    if (L->count + 1 > L->slot_cap / 2) {
        size_t ncap = L->slot_cap ? L->slot_cap * 2 : 16;
        stj_slot *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return nomem(p);
        for (size_t i = 0; i < L->slot_cap; i++) {
            stj_slot *o = &L->slots[i];
            if (o->gen != L->gen)
                continue;
            size_t j = o->hash & (ncap - 1);
            while (ns[j].gen == L->gen)
                j = (j + 1) & (ncap - 1);
            ns[j] = *o;
        }
        free(L->slots);
        L->slots = ns;
        L->slot_cap = ncap;
    }
    uint32_t h = fnv1a(p->str, p->str_len);
    size_t j = h & (L->slot_cap - 1);
    while (L->slots[j].gen == L->gen) {
        stj_slot *s = &L->slots[j];
        if (s->hash == h && s->len == p->str_len && (s->len == 0 || memcmp(L->keys + s->off, p->str, s->len) == 0)) {
            char q[200];
            stj_quote(p->str, p->str_len, 120, q, sizeof q);
            return fail(p, STJ_EDUP, at, "duplicate key %s", q);
        }
        j = (j + 1) & (L->slot_cap - 1);
    }
    if (p->str_len > L->keys_cap - L->keys_len) {
        size_t ncap = L->keys_cap ? L->keys_cap : 256;
        while (ncap - L->keys_len < p->str_len) {
            if (ncap > SIZE_MAX / 2)
                return nomem(p);
            ncap *= 2;
        }
        char *nk = realloc(L->keys, ncap);
        if (!nk)
            return nomem(p);
        L->keys = nk;
        L->keys_cap = ncap;
    }
    if (p->str_len)
        memcpy(L->keys + L->keys_len, p->str, p->str_len);
    L->slots[j].gen = L->gen;
    L->slots[j].hash = h;
    L->slots[j].off = L->keys_len;
    L->slots[j].len = p->str_len;
    L->keys_len += p->str_len;
    L->count++;
    return STJ_OK;
}

static stj_err push(stj_parser *p, int is_obj, const uint8_t *at)
{
    if (p->depth >= STJ_MAX_DEPTH)
        return fail(p, STJ_EDEPTH, at, "JSON nested deeper than %d levels", STJ_MAX_DEPTH);
    stj_level *L = &p->levels[p->depth++];
    L->is_obj = (unsigned char)is_obj;
    L->state = ST_AFTER_OPEN;
    if (is_obj) {
        L->keys_len = 0;
        L->count = 0;
        L->gen++;
        if (L->gen == 0) { /* wrapped: clear the table once */
            if (L->slots)
                memset(L->slots, 0, L->slot_cap * sizeof *L->slots);
            L->gen = 1;
        }
    }
    return STJ_OK;
}

static stj_err parse_value(stj_parser *p, stj_tok *tok)
{
    if (p->cur >= p->end)
        return fail(p, STJ_ESYNTAX, p->cur, "unexpected end of header (expected a value)");
    p->tok_off = p->base + (size_t)(p->cur - p->begin);
    const uint8_t *at = p->cur;
    stj_err e = STJ_OK;
    switch (*p->cur) {
    case '{':
        if ((e = push(p, 1, at)) != STJ_OK)
            return e;
        p->cur++;
        *tok = STJ_OBJ_BEGIN;
        return STJ_OK;
    case '[':
        if ((e = push(p, 0, at)) != STJ_OK)
            return e;
        p->cur++;
        *tok = STJ_ARR_BEGIN;
        return STJ_OK;
    case '"':
        e = parse_string(p);
        *tok = STJ_STRING;
        break;
    case 't':
    case 'f':
    case 'n': {
        static const char *const lit[3] = {"true", "false", "null"};
        static const stj_tok lt[3] = {STJ_TRUE, STJ_FALSE, STJ_NULL};
        int k = *p->cur == 't' ? 0 : *p->cur == 'f' ? 1 : 2;
        size_t n = strlen(lit[k]);
        if ((size_t)(p->end - p->cur) < n || memcmp(p->cur, lit[k], n) != 0)
            return fail(p, STJ_ESYNTAX, at, "invalid literal");
        p->cur += n;
        *tok = lt[k];
        break;
    }
    default:
        if (*p->cur == '-' || is_digit(*p->cur)) {
            e = parse_number(p, tok);
            break;
        }
        return fail(p, STJ_ESYNTAX, at, "unexpected character '%c'",
                    *p->cur >= 0x20 && *p->cur < 0x7f ? *p->cur : '?');
    }
    if (e == STJ_OK && p->depth == 0)
        p->done = 1;
    return e;
}

static stj_err close_container(stj_parser *p, stj_tok *tok)
{
    stj_level *L = &p->levels[--p->depth];
    *tok = L->is_obj ? STJ_OBJ_END : STJ_ARR_END;
    if (p->depth == 0)
        p->done = 1;
    return STJ_OK;
}

stj_err stj_next(stj_parser *p, stj_tok *tok)
{
    skip_ws(p);
    if (p->depth == 0) {
        if (p->done) {
            if (p->cur < p->end)
                return fail(p, STJ_ESYNTAX, p->cur, "trailing characters after the JSON object");
            p->tok_off = p->base + (size_t)(p->cur - p->begin);
            *tok = STJ_END;
            return STJ_OK;
        }
        return parse_value(p, tok);
    }
    stj_level *L = &p->levels[p->depth - 1];
    char closer = L->is_obj ? '}' : ']';
    p->tok_off = p->base + (size_t)(p->cur - p->begin);
    if (L->state == ST_AFTER_VALUE) {
        if (p->cur >= p->end)
            return fail(p, STJ_ESYNTAX, p->cur, "unexpected end of header (expected ',' or '%c')", closer);
        if (*p->cur == closer) {
            p->cur++;
            return close_container(p, tok);
        }
        if (*p->cur != ',')
            return fail(p, STJ_ESYNTAX, p->cur, "expected ',' or '%c'", closer);
        p->cur++;
        skip_ws(p);
        L->state = ST_AFTER_COMMA;
    } else if (L->state == ST_AFTER_OPEN) {
        if (p->cur < p->end && *p->cur == closer) {
            p->cur++;
            return close_container(p, tok);
        }
    }
    if (L->is_obj && L->state != ST_AFTER_KEY) {
        /* a member name, then ':' */
        if (p->cur >= p->end)
            return fail(p, STJ_ESYNTAX, p->cur, "unexpected end of header (expected a key)");
        if (*p->cur != '"')
            return fail(p, STJ_ESYNTAX, p->cur, "expected a string key");
        const uint8_t *at = p->cur;
        p->tok_off = p->base + (size_t)(at - p->begin);
        stj_err e = parse_string(p);
        if (e != STJ_OK)
            return e;
        if ((e = add_key(p, L, at)) != STJ_OK)
            return e;
        skip_ws(p);
        if (p->cur >= p->end || *p->cur != ':')
            return fail(p, STJ_ESYNTAX, p->cur, "expected ':' after key");
        p->cur++;
        L->state = ST_AFTER_KEY;
        *tok = STJ_KEY;
        return STJ_OK;
    }
    L->state = ST_AFTER_VALUE; /* set before parse_value pushes a new level */
    return parse_value(p, tok);
}

stj_err stj_skip(stj_parser *p, stj_tok first)
{
    if (first != STJ_OBJ_BEGIN && first != STJ_ARR_BEGIN)
        return STJ_OK;
    int level = 1;
    while (level > 0) {
        stj_tok t;
        stj_err e = stj_next(p, &t);
        if (e != STJ_OK)
            return e;
        if (t == STJ_OBJ_BEGIN || t == STJ_ARR_BEGIN)
            level++;
        else if (t == STJ_OBJ_END || t == STJ_ARR_END)
            level--;
        else if (t == STJ_END)
            return fail(p, STJ_ESYNTAX, p->cur, "unexpected end of header");
    }
    return STJ_OK;
}
