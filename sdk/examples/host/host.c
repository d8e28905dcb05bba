/* SPDX-License-Identifier: Apache-2.0 */
/* host.c - a small program that uses libptm.
 *
 *   host [MODEL_DIR]
 *
 * It registers an architecture defined in this file ("host-demo", the
 * equivalent of transformers' register_for_auto_class), lists every
 * registered component with the plugin that provides it, then loads
 * MODEL_DIR (config.json + weights) with ptm_model_from_pretrained and prints
 * its parameter count:
 *
 *   num_parameters: 376
 *
 * Plugins are found in the usual places: PTM_PLUGIN_PATH, then
 * <libdir>/ptm/plugins beside the libptm this program runs with. */
#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------- an in-process architecture */

/* "host-demo": one linear layer of config "width" x "width" plus bias. */
typedef struct demo {
    int64_t width;
} demo;

static ptm_status demo_create(const ptm_config *cfg, const char *class_name, void **state)
{
    (void)class_name; /* one class only */
    demo *d = calloc(1, sizeof *d);
    if (!d)
        return ptm_error(PTM_ERR_NOMEM, "host-demo: out of memory");
    ptm_status s = ptm_config_get_int(cfg, "width", &d->width);
    if (s == PTM_OK && d->width <= 0)
        s = ptm_error(PTM_ERR_CONFIG, "host-demo: \"width\" must be positive");
    if (s != PTM_OK) {
        free(d);
        return s;
    }
    *state = d;
    return PTM_OK;
}

static void demo_destroy(void *state) { free(state); }

static ptm_status demo_declare(void *state, ptm_param_list *list)
{
    const demo *d = state;
    const int64_t w[2] = {d->width, d->width}, b[1] = {d->width};
    ptm_status s = ptm_param_list_add_simple(list, "linear.weight", PTM_ROLE_WEIGHT, 2, w);
    return s ? s : ptm_param_list_add_simple(list, "linear.bias", PTM_ROLE_BIAS, 1, b);
}

static const char *const demo_classes[] = {"HostDemoModel", NULL};

static const ptm_arch demo_arch = {
    .struct_size = sizeof(ptm_arch),
    .model_type = "host-demo",
    .class_names = demo_classes,
    .base_model_prefix = "",
    .create = demo_create,
    .destroy = demo_destroy,
    .declare = demo_declare,
};

static ptm_status demo_register(ptm_registrar *reg) { return ptm_registrar_add_arch(reg, &demo_arch); }

/* The same descriptor a plugin file would return from ptm_plugin_entry. */
static const ptm_plugin demo_plugin = {
    PTM_PLUGIN_HEADER, "host-demo", "0.1.0", "an architecture defined by the host program", "Apache-2.0",
    demo_register,
};

/* ----------------------------------------------------------------- main */

static void log_to_stderr(ptm_log_level level, const char *message, void *user_data)
{
    (void)user_data;
    static const char *const names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "host: ptm %s: %s\n", names[(unsigned)level & 3u], message);
}

static int fail(const char *what)
{
    fprintf(stderr, "host: %s: %s\n", what, ptm_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [MODEL_DIR]\n", argv[0]);
        return 2;
    }
    /* The library never prints; it hands messages to this callback. */
    ptm_set_log_callback(log_to_stderr, NULL, PTM_LOG_WARN);
    printf("libptm %s (headers %s, plugin ABI %d.%d)\n", ptm_version(), PTM_VERSION_STRING, PTM_ABI_MAJOR,
           PTM_ABI_MINOR);

    ptm_context *ctx;
    if (ptm_context_new(NULL, &ctx) != PTM_OK)
        return fail("creating a context");
    /* In-process plugins must be registered before the first lookup; they
     * are searched first, so they win over plugin files claiming the same
     * names. */
    if (ptm_context_register_plugin(ctx, &demo_plugin) != PTM_OK) {
        ptm_context_free(ctx);
        return fail("registering host-demo");
    }
    if (ptm_context_load_plugins(ctx) != PTM_OK) {
        ptm_context_free(ctx);
        return fail("loading plugins");
    }

    size_t n = ptm_context_component_count(ctx);
    printf("components:\n");
    for (size_t i = 0; i < n; i++) {
        ptm_component_info c;
        if (ptm_context_component(ctx, i, &c) != PTM_OK)
            continue;
        printf("  %-8s %-24s %s %s  %s\n", ptm_component_kind_str(c.kind), c.name, c.plugin,
               c.plugin_version ? c.plugin_version : "?", c.path);
    }

    int rc = 0;
    if (argc == 2) {
        ptm_model *model;
        if (ptm_model_from_pretrained(ctx, argv[1], NULL, &model) != PTM_OK) {
            rc = fail(argv[1]);
        } else {
            printf("model: %s (%s), dtype %s\n", ptm_model_class(model), ptm_model_type(model),
                   ptm_dtype_torch_name(ptm_model_dtype(model)));
            printf("num_parameters: %lld\n", (long long)ptm_model_num_parameters(model, 0, 0));
            printf("num_parameters_non_embedding: %lld\n", (long long)ptm_model_num_parameters(model, 0, 1));
            ptm_model_free(model);
        }
    }
    ptm_context_free(ctx);
    return rc;
}
