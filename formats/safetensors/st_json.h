/* SPDX-License-Identifier: Apache-2.0 */
/* st_json.h - a small strict JSON pull parser for the safetensors header.
 *
 * The parser walks a UTF-8 buffer (validate it first with stj_utf8_check)
 * and returns one token per call.  It enforces the JSON grammar (RFC 8259),
 * refuses duplicate keys in every object at every level, limits nesting to
 * STJ_MAX_DEPTH, accepts JSON whitespace around the top-level value and
 * refuses anything else after it.  Numbers are classified: a non-negative
 * integer without fraction or exponent that fits in 64 bits is STJ_UINT
 * (exact), any other valid number is STJ_NUMBER.  Strings are decoded
 * (escapes, \uXXXX with surrogate pairs; lone surrogates are refused).
 * Memory use is bounded by the keys of the objects currently open. */
#ifndef PTM_ST_JSON_H
#define PTM_ST_JSON_H

#include <stddef.h>
#include <stdint.h>

#define STJ_MAX_DEPTH 64

typedef enum stj_tok {
    STJ_END = 0,   /* end of input after the top-level value */
    STJ_OBJ_BEGIN,
    STJ_OBJ_END,
    STJ_ARR_BEGIN,
    STJ_ARR_END,
    STJ_KEY,       /* an object member name: str / str_len */
    STJ_STRING,    /* a string value: str / str_len */
    STJ_UINT,      /* an unsigned integer that fits uint64: u */
    STJ_NUMBER,    /* any other number: raw / raw_len */
    STJ_TRUE,
    STJ_FALSE,
    STJ_NULL
} stj_tok;

typedef enum stj_err {
    STJ_OK = 0,
    STJ_ESYNTAX,   /* not JSON; err says what and where */
    STJ_EDEPTH,    /* nested deeper than STJ_MAX_DEPTH */
    STJ_EDUP,      /* duplicate key in an object */
    STJ_ENOMEM
} stj_err;

typedef struct stj_slot stj_slot;

typedef struct stj_level {
    unsigned char is_obj;
    unsigned char state;
    /* keys of the object at this level (objects only) */
    char *keys;
    size_t keys_len, keys_cap;
    stj_slot *slots;
    size_t slot_cap, count;
    uint32_t gen;
} stj_level;

typedef struct stj_parser {
    const uint8_t *begin, *cur, *end;
    size_t base;   /* file offset of begin, for messages */
    int depth;
    int done;      /* the top-level value is complete */
    stj_level levels[STJ_MAX_DEPTH];

    /* the current token */
    size_t tok_off;        /* file offset where the token starts */
    char *str;             /* decoded KEY / STRING, NUL-terminated */
    size_t str_len;
    size_t str_cap;
    int str_has_nul;       /* the decoded string contains U+0000 */
    uint64_t u;            /* STJ_UINT value */
    const char *raw;       /* STJ_NUMBER: the number as written */
    size_t raw_len;

    char err[320];         /* set on any error */
} stj_parser;

/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF);
 * else 0 and *bad is the offset of the first invalid byte. */
int stj_utf8_check(const uint8_t *s, size_t n, size_t *bad);

/* Start parsing buf[0..len); `base` is added to offsets in messages. */
void stj_init(stj_parser *p, const uint8_t *buf, size_t len, size_t base);
/* The next token.  On error *tok is undefined and p->err is set. */
stj_err stj_next(stj_parser *p, stj_tok *tok);
/* Skip the value that began with token `first` (nested values included). */
stj_err stj_skip(stj_parser *p, stj_tok first);
void stj_free(stj_parser *p);

/* Write s[0..n) quoted for a message into out (always NUL-terminated):
 * '"' and '\\' escaped, control bytes as \u00XX, at most about `max` bytes of
 * content, cut at a UTF-8 character boundary and marked with "...". */
void stj_quote(const char *s, size_t n, size_t max, char *out, size_t outsz);

#endif
