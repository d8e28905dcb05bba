/* SPDX-License-Identifier: Apache-2.0 */
/* Test plugin "testshadow": claims names that "testformats" also claims
 * (arch "testarch" / class TestArchModel, format "testfmt_hi"), plus names of
 * its own (class ShadowOnlyModel, backend "shadowbackend").  Whichever of
 * the two plugins is loaded first keeps the shared names. */
#include <ptm/ptm.h>

static int probe(const char *path, const uint8_t *head, size_t len)
{
    (void)path; (void)head; (void)len;
    return 0;
}
static ptm_status f_open(const char *path, void **source)
{
    (void)source;
    return ptm_error(PTM_ERR_UNSUPPORTED, "%s: shadow format cannot open files", path);
}
static void f_close(void *source) { (void)source; }
static size_t f_count(void *source) { (void)source; return 0; }
static ptm_status f_info(void *source, size_t i, ptm_tensor_info *out)
{
    (void)source; (void)i; (void)out;
    return PTM_ERR_UNSUPPORTED;
}
static ptm_status f_load(void *source, size_t i, ptm_tensor **out)
{
    (void)source; (void)i; (void)out;
    return PTM_ERR_UNSUPPORTED;
}
static const ptm_format fmt = {
    .struct_size = sizeof(ptm_format), .name = "testfmt_hi", .probe = probe,
    .open = f_open, .close = f_close, .count = f_count, .info = f_info, .load = f_load,
};

static ptm_status a_create(const ptm_config *cfg, const char *class_name, void **state)
{
    (void)cfg; (void)class_name; (void)state;
    return PTM_ERR_UNSUPPORTED;
}
static void a_destroy(void *state) { (void)state; }
static ptm_status a_declare(void *state, ptm_param_list *params)
{
    (void)state; (void)params;
    return PTM_OK;
}
static const char *const class_names[] = {"TestArchModel", "ShadowOnlyModel", NULL};
static const ptm_arch arch = {
    .struct_size = sizeof(ptm_arch), .model_type = "testarch", .class_names = class_names,
    .base_model_prefix = "", .create = a_create, .destroy = a_destroy, .declare = a_declare,
};

static int device_count(void) { return 2; }
static const ptm_backend backend = {
    .struct_size = sizeof(ptm_backend), .name = "shadowbackend", .device_count = device_count,
};

static ptm_status register_components(ptm_registrar *reg)
{
    ptm_status s = ptm_registrar_add_arch(reg, &arch);
    if (s == PTM_OK)
        s = ptm_registrar_add_format(reg, &fmt);
    if (s == PTM_OK)
        s = ptm_registrar_add_backend(reg, &backend);
    return s;
}

static const ptm_plugin plugin = {PTM_PLUGIN_HEADER, "testshadow", "0.1.0", "loader shadowing test",
                                  "Apache-2.0", register_components};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &plugin; }
