/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_gencfg.c - the generation config code (core/gencfg.c) on any JSON:
 * the input is parsed as a config.json (derived generation config) and as a
 * generation_config.json (the use_diff writer, eos_token_id, the
 * generate-option rule on a stand-in model).  The writer must be
 * idempotent: its output, read back and written again, is the same bytes
 * (checked for UTF-8 input only: the JSON writer writes each byte of
 * invalid UTF-8 as \u00XX, which reads back as another string). */
#include "model_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Well-formed UTF-8 without NUL bytes. */
static int utf8_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!c || !len || i + len > n || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4))
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
        if ((len == 3 && c == 0xE0 && p[i + 1] < 0xA0) || (len == 3 && c == 0xED && p[i + 1] >= 0xA0) ||
            (len == 4 && c == 0xF0 && p[i + 1] < 0x90) || (len == 4 && c == 0xF4 && p[i + 1] >= 0x90))
            return 0;
        i += len;
    }
    return 1;
}

static int check_writer;

static void check_idempotent(const char *text)
{
    ptm_config *again = NULL;
    char *text2 = NULL;
    if (!check_writer)
        return;
    if (ptm_config_parse(text, strlen(text), "fuzz-out", &again) != PTM_OK)
        abort(); /* the writer produced JSON its own parser refuses */
    if (ptm__gencfg_to_json(again, &text2) == PTM_OK && strcmp(text, text2) != 0) {
        fprintf(stderr, "not idempotent:\n%s\n---\n%s\n", text, text2);
        abort();
    }
    ptm_free(text2);
    ptm_config_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ptm_config *cfg = NULL, *derived = NULL;
    if (ptm_config_parse((const char *)data, size, "fuzz", &cfg) != PTM_OK)
        return 0;
    check_writer = utf8_ok(data, size) && !memchr(data, '\\', size); /* no escapes: no surrogates, no \u0000 */
    char *text = NULL;
    /* as config.json: derive, then write */
    if (ptm__gencfg_derive(cfg, &derived) == PTM_OK && ptm__gencfg_to_json(derived, &text) == PTM_OK) {
        check_idempotent(text);
        ptm_free(text);
        text = NULL;
    }
    ptm_config_free(derived);
    /* as generation_config.json */
    if (ptm__gencfg_to_json(cfg, &text) == PTM_OK) {
        check_idempotent(text);
        ptm_free(text);
    }
    struct ptm_model m;
    memset(&m, 0, sizeof m);
    m.gen_config = cfg;
    if (ptm__gencfg_eos(cfg, &m.gen_eos, &m.n_gen_eos) == PTM_OK) {
        ptm_generate_options o;
        ptm_generate_options_init(&o);
        if (ptm_generate_options_from_model(&m, size % 64, &o) == PTM_OK &&
            (o.max_new_tokens < 0 || (o.n_eos_token_ids && !o.eos_token_ids)))
            abort();
    }
    free(m.gen_eos);
    ptm_config_free(cfg);
    return 0;
}
