/* SPDX-License-Identifier: Apache-2.0 */
/* A well-formed test plugin "testformats": formats "testfmt_lo" (scores 10
 * for files starting "PTMTEST") and "testfmt_hi" (scores 90 for files
 * starting "PTMTESTHI"), and architecture "testarch" with class names
 * TestArchModel and TestArchLMHeadModel.  Nothing here does real work. */
#include <ptm/ptm.h>

#include <string.h>

static int starts_with(const uint8_t *head, size_t len, const char *magic)
{
    size_t n = strlen(magic);
    return len >= n && memcmp(head, magic, n) == 0;
}

static int probe_lo(const char *path, const uint8_t *head, size_t len)
{
    (void)path;
    return starts_with(head, len, "PTMTEST") ? 10 : 0;
}

static int probe_hi(const char *path, const uint8_t *head, size_t len)
{
    (void)path;
    return starts_with(head, len, "PTMTESTHI") ? 90 : 0;
}

static ptm_status f_open(const char *path, void **source)
{
    (void)source;
    return ptm_error(PTM_ERR_UNSUPPORTED, "%s: test format cannot open files", path);
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

static const ptm_format fmt_lo = {
    .struct_size = sizeof(ptm_format), .name = "testfmt_lo", .extension = ".ptmtest", .probe = probe_lo,
    .open = f_open, .close = f_close, .count = f_count, .info = f_info, .load = f_load,
};
static const ptm_format fmt_hi = {
    .struct_size = sizeof(ptm_format), .name = "testfmt_hi", .extension = ".ptmtest", .probe = probe_hi,
    .open = f_open, .close = f_close, .count = f_count, .info = f_info, .load = f_load,
};

static ptm_status a_create(const ptm_config *cfg, const char *class_name, void **state)
{
    (void)cfg; (void)class_name; (void)state;
    return ptm_error(PTM_ERR_UNSUPPORTED, "testarch cannot build models");
}
static void a_destroy(void *state) { (void)state; }
static ptm_status a_declare(void *state, ptm_param_list *params)
{
    (void)state; (void)params;
    return PTM_OK;
}

static const char *const class_names[] = {"TestArchModel", "TestArchLMHeadModel", NULL};
static const ptm_arch arch = {
    .struct_size = sizeof(ptm_arch), .model_type = "testarch", .class_names = class_names,
    .base_model_prefix = "testarch", .create = a_create, .destroy = a_destroy, .declare = a_declare,
};

static ptm_status register_components(ptm_registrar *reg)
{
    ptm_status s = ptm_registrar_add_format(reg, &fmt_lo);
    if (s == PTM_OK)
        s = ptm_registrar_add_format(reg, &fmt_hi);
    if (s == PTM_OK)
        s = ptm_registrar_add_arch(reg, &arch);
    return s;
}

static const ptm_plugin plugin = {PTM_PLUGIN_HEADER, "testformats", "0.1.0", "loader test formats and arch",
                                  "Apache-2.0", register_components};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &plugin; }
