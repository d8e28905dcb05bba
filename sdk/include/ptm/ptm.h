/* SPDX-License-Identifier: Apache-2.0 */
/* ptm.h - the host API: library version, context (plugin registry and
 * loader), models (from_pretrained, save_pretrained, parameter counts).
 * Including this header includes the whole SDK. */
#ifndef PTM_PTM_H
#define PTM_PTM_H

#include "status.h"
#include "tensor.h"
#include "config.h"
#include "ops.h"
#include "plugin.h"
#include "arch.h"
#include "format.h"
#include "backend.h"
#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PTM_VERSION_MAJOR 0
#define PTM_VERSION_MINOR 2
#define PTM_VERSION_PATCH 0
#define PTM_VERSION_STRING "0.2.0"

/* The library's version string (may differ from the headers' at run time). */
PTM_API const char *ptm_version(void);

/* ------------------------------------------------------------ context */

/* A context owns the plugin registry and the plugins it loaded.  It is
 * thread-safe for lookups once plugins are loaded; free it only when no
 * model made with it is alive. */
typedef struct ptm_context ptm_context;

typedef struct ptm_context_options {
    size_t struct_size;
    /* Plugin files or directories searched after in-process plugins and
     * before PTM_PLUGIN_PATH (borrowed during ptm_context_new). */
    const char *const *plugin_paths;
    size_t n_plugin_paths;
    int ignore_env;         /* 1: do not read PTM_PLUGIN_PATH            */
    int skip_install_dir;   /* 1: do not search ${libdir}/ptm/plugins    */
} ptm_context_options;

/* Fill defaults (no extra paths, env and install dir searched). */
PTM_API void ptm_context_options_init(ptm_context_options *opts);

/* New context.  `opts` may be NULL.  Plugins are discovered on the first
 * lookup or by ptm_context_load_plugins. */
PTM_API ptm_status ptm_context_new(const ptm_context_options *opts, ptm_context **out);
/* Unloads its plugins.  NULL is fine. */
PTM_API void ptm_context_free(ptm_context *ctx);

/* Register a plugin linked into the host (searched first).  Must be called
 * before plugins are discovered; later it is PTM_ERR_STATE.  The descriptor
 * is checked like a loaded one and recorded in the load report with path
 * "(in-process)".  A register_components failure is returned. */
PTM_API ptm_status ptm_context_register_plugin(ptm_context *ctx, const ptm_plugin *plugin);

/* Discover and load plugins in the search order: in-process, explicit
 * paths, PTM_PLUGIN_PATH (colon-separated files or directories), the install
 * directory (${libdir}/ptm/plugins next to the loaded libptm).  Idempotent.
 * Individual plugin failures are recorded in the load report, not returned;
 * the status is an error only if the loader itself cannot start. */
PTM_API ptm_status ptm_context_load_plugins(ptm_context *ctx);

/* Load report: one record per attempt (a file, a missing directory, or a
 * registered component with its outcome). */
typedef enum ptm_load_outcome {
    PTM_LOAD_OK = 0,
    PTM_LOAD_NO_ENTRY,       /* the shared object has no ptm_plugin_entry   */
    PTM_LOAD_BAD_DESCRIPTOR, /* entry returned NULL or a too-small struct   */
    PTM_LOAD_ABI_MAJOR,      /* abi_major differs from the core's           */
    PTM_LOAD_ABI_TOO_NEW,    /* abi_minor newer than the core's             */
    PTM_LOAD_SHADOWED,       /* a component name was already registered     */
    PTM_LOAD_OPEN_FAILED,    /* dlopen failed (not a shared object, ...)   */
    PTM_LOAD_INIT_FAILED,    /* register_components returned an error       */
    PTM_LOAD_DIR_MISSING,    /* a search path does not exist                */
    PTM_LOAD_DUPLICATE_PLUGIN /* a plugin with this name was already loaded */
} ptm_load_outcome;

typedef enum ptm_component_kind {
    PTM_KIND_NONE = 0, /* a record about a file or directory, not a component */
    PTM_KIND_ARCH = 1,
    PTM_KIND_FORMAT = 2,
    PTM_KIND_BACKEND = 3
} ptm_component_kind;

typedef struct ptm_load_record {
    const char *path;      /* file or directory; "(in-process)" for host plugins */
    const char *plugin;    /* descriptor name, or NULL before it was read   */
    ptm_component_kind kind;
    const char *component; /* registered name, or NULL                      */
    ptm_load_outcome outcome;
    const char *reason;    /* human-readable detail ("" for OK)             */
} ptm_load_record;

/* A constant name of an outcome ("ok", "no entry symbol", ...). */
PTM_API const char *ptm_load_outcome_str(ptm_load_outcome o);
PTM_API const char *ptm_component_kind_str(ptm_component_kind k);
/* Number of records, and record i (borrowed, valid while ctx lives). */
PTM_API size_t ptm_context_load_report_size(ptm_context *ctx);
PTM_API const ptm_load_record *ptm_context_load_report(ptm_context *ctx, size_t i);

/* A registered component. */
typedef struct ptm_component_info {
    ptm_component_kind kind;
    const char *name;           /* the name it is registered under            */
    const char *plugin;         /* plugin descriptor name                     */
    const char *plugin_version;
    const char *path;           /* the plugin file, or "(in-process)"         */
    const void *vtable;         /* const ptm_arch* / ptm_format* / ptm_backend* */
} ptm_component_info;

/* Components in registration order (loads plugins first if needed). */
PTM_API size_t ptm_context_component_count(ptm_context *ctx);
PTM_API ptm_status ptm_context_component(ptm_context *ctx, size_t i, ptm_component_info *out);
/* Lookups by registered name; NULL (and a message listing what is
 * available) if absent.  An arch is found by class name or model_type. */
PTM_API const ptm_arch *ptm_context_find_arch(ptm_context *ctx, const char *name);
PTM_API const ptm_format *ptm_context_find_format(ptm_context *ctx, const char *name);
PTM_API const ptm_backend *ptm_context_find_backend(ptm_context *ctx, const char *name);
/* The format whose probe scores `path` highest, or NULL with a message. */
PTM_API const ptm_format *ptm_context_detect_format(ptm_context *ctx, const char *path);

/* -------------------------------------------------------------- models */

typedef struct ptm_load_options {
    size_t struct_size;
    /* Parameter dtype (transformers' torch_dtype): PTM_F32 (the default, as
     * in transformers), PTM_F16, PTM_BF16, or PTM_DTYPE_AUTO (config.json's
     * torch_dtype, else the first floating tensor of the checkpoint). */
    ptm_dtype dtype;
    /* Model class to build instead of config.json's "architectures"[0]
     * (e.g. "GPT2Model"); NULL to follow the config. */
    const char *class_name;
    /* Config overrides, like transformers' **kwargs: NULL-terminated list of
     * key, JSON-value pairs ("n_layer", "2", NULL). */
    const char *const *config_overrides;
    /* transformers' from_tf / from_flax: load tf_model.h5 (or its index) /
     * flax_model.msgpack (or its index) from a folder.  Without them a folder
     * holding only such a checkpoint is an error that says so. */
    int from_tf;
    int from_flax;
    /* A `path` that is neither a file nor a folder but has the shape of a
     * Hub repo id ("name" or "org/name") is downloaded through the Hub into
     * the shared cache with these options (NULL: defaults).  Since 0.2. */
    const struct ptm_hub_options *hub;
} ptm_load_options;

PTM_API void ptm_load_options_init(ptm_load_options *opts);

/* Load a model from a folder holding config.json and weights
 * (model.safetensors, or an index with shards), or from one weights file
 * (config.json is then looked for beside it).  The architecture is chosen by
 * config.json's "architectures" class name, then "model_type".  Checkpoints
 * saved from the base model or from a head model both load
 * (base_model_prefix added or stripped).  Missing parameters are
 * initialised (normal(0, initializer_range), zero bias, unit norm) and
 * reported, unexpected ones reported and dropped; a shape mismatch is an
 * error.  `opts` may be NULL. */
PTM_API ptm_status ptm_model_from_pretrained(ptm_context *ctx, const char *path, const ptm_load_options *opts,
                                             ptm_model **out);
PTM_API void ptm_model_free(ptm_model *model);

typedef struct ptm_save_options {
    size_t struct_size;
    /* format plugin name: "safetensors" (NULL, the default), "pytorch"
     * (safe_serialization=False), "h5", "msgpack", ... */
    const char *format;
    /* Largest shard in bytes (transformers' max_shard_size); 0 = the
     * save_pretrained default, 5 GB (5,000,000,000 bytes; 10 GB for the h5
     * and msgpack formats).  Weights that do not fit are split into
     * numbered shards plus an index JSON (safetensors and pytorch only). */
    uint64_t max_shard_size;
} ptm_save_options;

PTM_API void ptm_save_options_init(ptm_save_options *opts);

/* Write config.json (torch_dtype updated), generation_config.json (models
 * that can generate: the generation config's keys whose value differs from
 * transformers' GenerationConfig defaults, plus the transformers_version
 * the loaded file had, like to_json_file(use_diff=True)) and the weights
 * (tied tensors once, metadata {"format": "pt"}) into `dir` (created if
 * missing).  When
 * the weights exceed max_shard_size they are split as transformers 4.37
 * does (tensors in order, a new shard when the next one does not fit, an
 * oversized tensor alone): model-00001-of-0000N.safetensors ... (or
 * pytorch_model-...bin) and model.safetensors.index.json.  Files are
 * written under temporary names and renamed, so a failure leaves any
 * previous save intact and saving over the folder the model was loaded
 * from is safe; afterwards, weight files of a previous save that the new
 * one did not replace (other shards, the single file or the index) are
 * removed. */
PTM_API ptm_status ptm_model_save_pretrained(const ptm_model *model, const char *dir, const ptm_save_options *opts);

/* Parse a max_shard_size string as transformers 4.37's
 * convert_file_size_to_int: an integer followed by GiB/MiB/KiB (powers of
 * 2) or GB/MB/KB (powers of 10; case-insensitive, but a final lower-case
 * "b" with a decimal unit means bits: "8Mb" = 1,000,000 bytes).  A plain
 * integer is a byte count.  Zero, negative and fractional sizes are
 * errors. */
PTM_API ptm_status ptm_parse_file_size(const char *text, uint64_t *bytes);

/* Cast the floating parameters to `dt` (F32, F16 or BF16), leaving those
 * whose name matches one of the NULL-terminated fnmatch patterns in `keep`
 * (may be NULL) untouched — FlaxPreTrainedModel's to_bf16 / to_fp16 /
 * to_fp32 with a mask.  Integer and bool tensors are never cast.  Tied
 * parameters stay tied.  ptm_model_dtype reports `dt` afterwards.  Needs
 * exclusive access to the model (no forward running). */
PTM_API ptm_status ptm_model_cast(ptm_model *model, ptm_dtype dt, const char *const *keep);

/* transformers' num_parameters: tied parameters count once; buffers never
 * count; exclude_embeddings drops embedding-role parameters
 * (PTM_ROLE_EMBEDDING); only_trainable drops frozen ones. */
PTM_API int64_t ptm_model_num_parameters(const ptm_model *model, int only_trainable, int exclude_embeddings);
/* transformers' get_memory_footprint: bytes of parameters (tied ones once),
 * plus buffers when with_buffers is 1. */
PTM_API int64_t ptm_model_memory_footprint(const ptm_model *model, int with_buffers);

PTM_API const ptm_config *ptm_model_config(const ptm_model *model);
PTM_API const char *ptm_model_type(const ptm_model *model);       /* "gpt2" */
PTM_API const char *ptm_model_class(const ptm_model *model);      /* "GPT2LMHeadModel" */
PTM_API ptm_dtype ptm_model_dtype(const ptm_model *model);
PTM_API const ptm_arch *ptm_model_arch(const ptm_model *model);
PTM_API void *ptm_model_arch_state(const ptm_model *model);
PTM_API int ptm_model_can_generate(const ptm_model *model);
/* transformers' model.generation_config (borrowed; NULL for a model that
 * cannot generate): generation_config.json from the model folder (or Hub
 * snapshot) when there is one, kept whole (unknown keys survive a save);
 * without it, or when it is not a JSON object (a warning is logged, as
 * transformers falls back), derived from config.json like GenerationConfig.from_model_config:
 * "_from_model_config": true and the generation keys config.json sets to a
 * value other than GenerationConfig's default (bos_token_id, eos_token_id,
 * pad_token_id, decoder_start_token_id, max_length, do_sample, ...; also
 * from a "decoder", "generator" or "text_config" object).  A derived config
 * has no origin (ptm_config_origin is NULL) and no transformers_version.
 * Since 0.2. */
PTM_API const ptm_config *ptm_model_generation_config(const ptm_model *model);
/* The weight files the model was loaded from, in load order. */
PTM_API size_t ptm_model_file_count(const ptm_model *model);
PTM_API const char *ptm_model_file(const ptm_model *model, size_t i);
/* Parameter or buffer by name (borrowed; tied names give the shared tensor). */
PTM_API ptm_tensor *ptm_model_param(const ptm_model *model, const char *name);
/* Every parameter and buffer under its state-dict name (borrowed). */
PTM_API const ptm_state_dict *ptm_model_state_dict(const ptm_model *model);

/* output_loading_info: which checkpoint keys were missing (initialised),
 * unexpected (ignored). */
typedef enum ptm_key_report { PTM_KEYS_MISSING = 0, PTM_KEYS_UNEXPECTED = 1 } ptm_key_report;
PTM_API size_t ptm_model_key_report_size(const ptm_model *model, ptm_key_report which);
PTM_API const char *ptm_model_key_report(const ptm_model *model, ptm_key_report which, size_t i);

/* ------------------------------------------------------------- running */

/* Run one forward pass (see ptm_forward_args in arch.h).  Resets the exec's
 * scratch arena first; *out is a scratch tensor valid until the next call
 * on `ex`.  PTM_ERR_UNSUPPORTED if the architecture has no forward.  A
 * failure leaves the model unchanged and usable with another exec. */
PTM_API ptm_status ptm_model_forward(const ptm_model *model, ptm_exec *ex, const ptm_forward_args *args,
                                     ptm_tensor **out);

/* Called with each generated token; return non-zero to stop. */
typedef int (*ptm_token_callback)(int64_t batch_index, int64_t token, void *user_data);

typedef struct ptm_generate_options {
    size_t struct_size;
    int64_t max_new_tokens;   /* default 20 */
    int do_sample;            /* 0: greedy (default); 1: sample */
    float temperature;        /* default 1.0 (sampling only) */
    int64_t top_k;            /* default 50; 0 = off (sampling only) */
    float top_p;              /* default 1.0 = off (sampling only) */
    uint64_t seed;            /* sampling seed (default 0) */
    /* Token ids that end a sequence (NULL/0: config's eos_token_id, if any;
     * generation stops when every sequence has ended). */
    const int64_t *eos_token_ids;
    size_t n_eos_token_ids;
    ptm_token_callback on_token; /* streaming; may be NULL */
    void *user_data;
    /* Since 0.2.  1 (the init value): the fields below that the caller left
     * at their init value take the model's generation config
     * (ptm_model_generation_config), as transformers' generate() takes
     * model.generation_config:
     *   max_new_tokens (20)     <- "max_new_tokens"; when that is absent or
     *                              null, "max_length" - prompt length (at
     *                              least 1, as transformers generates one
     *                              token even past max_length)
     *   do_sample (0)           <- "do_sample" (true/false)
     *   temperature (1.0)       <- "temperature"
     *   top_k (50)              <- "top_k"
     *   top_p (1.0)             <- "top_p"
     *   eos_token_ids (NULL/0)  <- "eos_token_id" (an integer or a list)
     *   pad_token_id (-1)       <- "pad_token_id"
     * A key that is absent or null leaves the field as it is; a key of the
     * wrong type is PTM_ERR_CONFIG naming the file and key, and a value
     * generate refuses (temperature 0 with do_sample) is its usual
     * PTM_ERR_INVALID_ARG, prefixed "with the defaults of FILE".  So a field set
     * to its init value (max_new_tokens = 20) cannot be told from one left
     * alone: to force it, call ptm_generate_options_from_model first, then
     * set the field (this is what `ptm generate` does), or set
     * use_generation_config to 0.  With no eos id from either, config.json's
     * eos_token_id is used, as before.  0: the fields are used as they are. */
    int use_generation_config;
    /* Since 0.2.  The id that fills a sequence after it has ended
     * (transformers' pad_token_id); -1 (the init value) = that sequence's
     * own eos id. */
    int64_t pad_token_id;
} ptm_generate_options;

PTM_API void ptm_generate_options_init(ptm_generate_options *opts);

/* Apply the generation config rule described at use_generation_config to
 * `opts` now (for a prompt of `prompt_len` tokens) and set
 * use_generation_config to 0, so the caller can override fields afterwards
 * with any value.  eos_token_ids may then point into the model (valid while
 * it lives).  A model without a generation config leaves the fields
 * unchanged.  Since 0.2. */
PTM_API ptm_status ptm_generate_options_from_model(const ptm_model *model, int64_t prompt_len,
                                                   ptm_generate_options *opts);

/* Generate continuations of input_ids [B, T] (I64; attention_mask [B, T] or
 * NULL for left padding).  *out receives a new heap tensor [B, T + n] (I64)
 * with the prompt and the generated ids (ended sequences padded with their
 * eos id).  Uses the exec's KV cache (cleared first).  PTM_ERR_UNSUPPORTED
 * if the model cannot generate; PTM_ERR_INVALID_ARG for ids outside the
 * vocabulary. */
PTM_API ptm_status ptm_model_generate(const ptm_model *model, ptm_exec *ex, const ptm_tensor *input_ids,
                                      const ptm_tensor *attention_mask, const ptm_generate_options *opts,
                                      ptm_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
