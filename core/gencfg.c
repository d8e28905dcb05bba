/* SPDX-License-Identifier: Apache-2.0 */
/* gencfg.c - the generation config (transformers' model.generation_config):
 * loaded from generation_config.json or derived from config.json as
 * GenerationConfig.from_model_config does, written back as
 * to_json_file(use_diff=True) does, and applied to ptm_generate_options.
 *
 * Facts from transformers 4.37 this follows:
 *  - GenerationConfig() defaults: the DEFAULTS table below.
 *  - from_model_config: the config's keys that GenerationConfig knows,
 *    with "_from_model_config": true; keys it does not know are not kept
 *    (GenerationConfig.__init__ sets unknown kwargs only when
 *    _from_model_config is false -- which also holds for a loaded file that
 *    says "_from_model_config": true).  A "decoder", "generator" or
 *    "text_config" object supplies the attributes still at their default.
 *  - to_json_file(use_diff=True): keys whose value differs from the
 *    default (Python ==, so 1 == 1.0 == true), plus transformers_version,
 *    json.dumps(indent=2, sort_keys=True) + "\n".  ptm writes the
 *    transformers_version the loaded file had, and none for a derived one. */
#include "config_internal.h"
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* GenerationConfig() of transformers 4.37, as JSON. */
static const char DEFAULTS[] = "{"
                               "\"max_length\": 20, \"max_new_tokens\": null, \"min_length\": 0,"
                               "\"min_new_tokens\": null, \"early_stopping\": false, \"max_time\": null,"
                               "\"do_sample\": false, \"num_beams\": 1, \"num_beam_groups\": 1,"
                               "\"penalty_alpha\": null, \"use_cache\": true,"
                               "\"temperature\": 1.0, \"top_k\": 50, \"top_p\": 1.0, \"typical_p\": 1.0,"
                               "\"epsilon_cutoff\": 0.0, \"eta_cutoff\": 0.0, \"diversity_penalty\": 0.0,"
                               "\"repetition_penalty\": 1.0, \"encoder_repetition_penalty\": 1.0,"
                               "\"length_penalty\": 1.0, \"no_repeat_ngram_size\": 0, \"bad_words_ids\": null,"
                               "\"force_words_ids\": null, \"renormalize_logits\": false, \"constraints\": null,"
                               "\"forced_bos_token_id\": null, \"forced_eos_token_id\": null,"
                               "\"remove_invalid_values\": false, \"exponential_decay_length_penalty\": null,"
                               "\"suppress_tokens\": null, \"begin_suppress_tokens\": null,"
                               "\"forced_decoder_ids\": null, \"sequence_bias\": null, \"guidance_scale\": null,"
                               "\"low_memory\": null, \"num_return_sequences\": 1, \"output_attentions\": false,"
                               "\"output_hidden_states\": false, \"output_scores\": false,"
                               "\"return_dict_in_generate\": false, \"pad_token_id\": null,"
                               "\"bos_token_id\": null, \"eos_token_id\": null,"
                               "\"encoder_no_repeat_ngram_size\": 0, \"decoder_start_token_id\": null,"
                               "\"num_assistant_tokens\": 5, \"num_assistant_tokens_schedule\": \"heuristic\","
                               "\"generation_kwargs\": {}, \"_from_model_config\": false"
                               "}";

static ptm_status parse_defaults(cJSON **out)
{
    *out = cJSON_Parse(DEFAULTS);
    return *out ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
}

static int numeric(const cJSON *v) { return cJSON_IsNumber(v) || cJSON_IsBool(v); }
static double num_of(const cJSON *v) { return cJSON_IsTrue(v) ? 1.0 : cJSON_IsFalse(v) ? 0.0 : v->valuedouble; }

/* Python's == on the values json.loads would give. */
static int py_equal(const cJSON *a, const cJSON *b)
{
    if (numeric(a) && numeric(b))
        return num_of(a) == num_of(b);
    if (cJSON_IsNull(a) || cJSON_IsNull(b))
        return cJSON_IsNull(a) && cJSON_IsNull(b);
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a) && cJSON_IsArray(b)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!py_equal(x, y))
                return 0;
        return !x && !y;
    }
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return 0;
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if (!y || !py_equal(x, y))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* Set `key` of object `obj` to a copy of `v` (replacing). */
static ptm_status put_copy(cJSON *obj, const char *key, const cJSON *v)
{
    cJSON *dup = cJSON_Duplicate(v, 1);
    return dup ? ptm__cjson_put(obj, key, dup) : ptm_error(PTM_ERR_NOMEM, "out of memory");
}

ptm_status ptm__gencfg_derive(const ptm_config *model_cfg, ptm_config **out)
{
    cJSON *defs;
    ptm_status s = parse_defaults(&defs);
    if (s)
        return s;
    ptm_config *g = NULL;
    if ((s = ptm_config_new(&g)) || (s = ptm_config_set_bool(g, "_from_model_config", 1)))
        goto done;
    /* the model config's generation attributes that differ from the defaults */
    for (const cJSON *d = defs->child; d && !s; d = d->next) {
        if (!strcmp(d->string, "_from_model_config"))
            continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model_cfg->root, d->string);
        if (v && !py_equal(v, d))
            s = put_copy(g->root, d->string, v);
    }
    /* attributes still at their default, from a decoder-like sub-config */
    static const char *const subs[] = {"decoder", "generator", "text_config"};
    for (size_t k = 0; k < sizeof subs / sizeof subs[0] && !s; k++) {
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(model_cfg->root, subs[k]);
        if (!cJSON_IsObject(sub))
            continue;
        for (const cJSON *d = defs->child; d && !s; d = d->next) {
            if (!strcmp(d->string, "_from_model_config"))
                continue;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(sub, d->string);
            const cJSON *cur = cJSON_GetObjectItemCaseSensitive(g->root, d->string);
            if (v && (!cur || py_equal(cur, d))) {
                if (py_equal(v, d))
                    cJSON_DeleteItemFromObjectCaseSensitive(g->root, d->string);
                else
                    s = put_copy(g->root, d->string, v);
            }
        }
    }
done:
    cJSON_Delete(defs);
    if (s) {
        ptm_config_free(g);
        return s;
    }
    *out = g;
    return PTM_OK;
}

ptm_status ptm__gencfg_load(const char *dir, const ptm_config *model_cfg, ptm_config **out)
{
    char *path = ptm__path_join(dir, "generation_config.json");
    if (!path)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ptm_status s = PTM_ERR_NOT_FOUND;
    if (ptm__is_file(path) && (s = ptm_config_load(path, out)) != PTM_OK && s != PTM_ERR_NOMEM) {
        /* transformers' from_pretrained catches the OSError a damaged file
         * raises and goes on with the config-derived defaults: so does ptm,
         * saying so (transformers only logs it at info level). */
        ptm_log(PTM_LOG_WARN, "%s; using a generation config derived from config.json instead", ptm_last_error());
        ptm_clear_error();
    }
    if (s != PTM_OK && s != PTM_ERR_NOMEM)
        s = ptm__gencfg_derive(model_cfg, out);
    free(path);
    return s;
}

ptm_status ptm__gencfg_to_json(const ptm_config *g, char **out)
{
    cJSON *defs;
    ptm_status s = parse_defaults(&defs);
    if (s)
        return s;
    struct ptm_config diff = {cJSON_CreateObject(), g->origin};
    if (!diff.root) {
        cJSON_Delete(defs);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    const cJSON *fmc = cJSON_GetObjectItemCaseSensitive(g->root, "_from_model_config");
    int from_model = numeric(fmc) && num_of(fmc) != 0.0;
    for (const cJSON *v = g->root->child; v && !s; v = v->next) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(defs, v->string);
        if (!strcmp(v->string, "_commit_hash") || cJSON_GetObjectItemCaseSensitive(diff.root, v->string))
            continue;
        if (!strcmp(v->string, "transformers_version") || (d ? !py_equal(v, d) : !from_model))
            s = put_copy(diff.root, v->string, v);
    }
    if (!s)
        s = ptm_config_to_json(&diff, out);
    cJSON_Delete(diff.root);
    cJSON_Delete(defs);
    return s;
}

/* eos_token_id of the generation config: an integer, a list of integers
 * (malloc'd into *ids), or absent/null (*n = 0).  Another type is an
 * error naming the file (ignored, *n = 0, in a derived config). */
ptm_status ptm__gencfg_eos(const ptm_config *g, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(g->root, "eos_token_id");
    const char *origin = g->origin ? g->origin : "generation config (derived from config.json)";
    if (!v || cJSON_IsNull(v))
        return PTM_OK;
    size_t cnt = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1;
    if (!(*ids = malloc((cnt ? cnt : 1) * sizeof **ids)))
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    const cJSON *it = cJSON_IsArray(v) ? v->child : v;
    for (size_t i = 0; i < cnt; i++, it = it->next) {
        if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || fabs(it->valuedouble) > 9.0e18) {
            free(*ids);
            *ids = NULL;
            if (!g->origin) /* derived: config.json's eos stays the fallback, as before */
                return PTM_OK;
            return ptm_error(PTM_ERR_CONFIG, "%s: eos_token_id%s must be an integer or a list of integers", origin,
                             cJSON_IsArray(v) ? " item" : "");
        }
        (*ids)[i] = (int64_t)it->valuedouble;
    }
    *n = cnt;
    return PTM_OK;
}

/* ------------------------------------------------- generate defaults */

typedef struct gen_src {
    const ptm_config *g;
    const char *origin;
} gen_src;

/* The value of `key` when present and not null, else NULL. */
static const cJSON *gval(const gen_src *src, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src->g->root, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static ptm_status bad_type(const gen_src *src, const char *key, const char *what)
{
    return ptm_error(PTM_ERR_CONFIG, "%s: \"%s\" must be %s", src->origin, key, what);
}

static ptm_status take_int(const gen_src *src, const char *key, int64_t lo, int64_t *dst)
{
    const cJSON *v = gval(src, key);
    if (!v)
        return PTM_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > 9.0e18)
        return bad_type(src, key, lo ? "a positive integer" : "an integer >= 0");
    *dst = (int64_t)v->valuedouble;
    return PTM_OK;
}

static ptm_status take_float(const gen_src *src, const char *key, float *dst)
{
    const cJSON *v = gval(src, key);
    if (!v)
        return PTM_OK;
    if (!cJSON_IsNumber(v))
        return bad_type(src, key, "a number");
    *dst = (float)v->valuedouble;
    return PTM_OK;
}

ptm_status ptm_generate_options_from_model(const ptm_model *m, int64_t prompt_len, ptm_generate_options *o)
{
    if (!m || !o || o->struct_size < offsetof(ptm_generate_options, use_generation_config) + sizeof(int))
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_generate_options_from_model: NULL argument or options older than "
                                              "use_generation_config");
    int has_pad = o->struct_size >= offsetof(ptm_generate_options, pad_token_id) + sizeof(int64_t);
    ptm_generate_options init;
    ptm_generate_options_init(&init);
    ptm_status s = PTM_OK;
    if (m->gen_config) {
        gen_src src = {m->gen_config, m->gen_config->origin ? m->gen_config->origin
                                                            : "generation config (derived from config.json)"};
        if (o->max_new_tokens == init.max_new_tokens) {
            int64_t max_len = -1;
            if (gval(&src, "max_new_tokens"))
                s = take_int(&src, "max_new_tokens", 0, &o->max_new_tokens);
            else if (!(s = take_int(&src, "max_length", 0, &max_len)) && max_len >= 0)
                o->max_new_tokens = max_len - prompt_len > 1 ? max_len - prompt_len : 1;
        }
        if (!s && o->do_sample == init.do_sample && gval(&src, "do_sample")) {
            const cJSON *v = gval(&src, "do_sample");
            if (!cJSON_IsBool(v))
                s = bad_type(&src, "do_sample", "true or false");
            else
                o->do_sample = cJSON_IsTrue(v);
        }
        if (!s && o->temperature == init.temperature)
            s = take_float(&src, "temperature", &o->temperature);
        if (!s && o->top_k == init.top_k)
            s = take_int(&src, "top_k", 0, &o->top_k);
        if (!s && o->top_p == init.top_p)
            s = take_float(&src, "top_p", &o->top_p);

        if (!s && has_pad && o->pad_token_id == init.pad_token_id)
            s = take_int(&src, "pad_token_id", 0, &o->pad_token_id);
        if (!s && (!o->eos_token_ids || !o->n_eos_token_ids) && m->n_gen_eos) {
            o->eos_token_ids = m->gen_eos;
            o->n_eos_token_ids = m->n_gen_eos;
        }
    }
    o->use_generation_config = 0;
    return s;
}

const ptm_config *ptm_model_generation_config(const ptm_model *m) { return m ? m->gen_config : NULL; }
