/* SPDX-License-Identifier: Apache-2.0 */
/* test_loader.c - the plugin registry and loader.
 *
 * Uses the test plugins of tests/plugins.cmake (sources in
 * tests/plugins/broken/), built into PTM_TEST_PLUGIN_DIR:
 *   loader-good/    testbackend (backend "testbackend", 1 device),
 *                   testformats (formats testfmt_lo/testfmt_hi, arch testarch)
 *   loader-shadow/  testshadow (claims testarch, TestArchModel, testfmt_hi;
 *                   owns ShadowOnlyModel and shadowbackend)
 *   loader-broken/  one plugin per refusal reason and notaplugin.so (text)
 * The expected outcomes come from how each test plugin is written (see its
 * source), not from earlier runs of the loader. */
#include "check.h"

#include <ptm/ptm.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOOD PTM_TEST_PLUGIN_DIR "/loader-good"
#define SHADOW PTM_TEST_PLUGIN_DIR "/loader-shadow"
#define BROKEN PTM_TEST_PLUGIN_DIR "/loader-broken"
#define MISSING PTM_TEST_PLUGIN_DIR "/no-such-dir"

/* A context over exactly `paths` (no environment, no install dir). */
static ptm_context *ctx_with(const char *const *paths, size_t n)
{
    ptm_context_options o;
    ptm_context_options_init(&o);
    o.plugin_paths = paths;
    o.n_plugin_paths = n;
    o.ignore_env = 1;
    o.skip_install_dir = 1;
    ptm_context *ctx = NULL;
    CHECK_OK(ptm_context_new(&o, &ctx));
    return ctx;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The first record whose path ends with `path_end` (and, when not NULL,
 * whose component is `comp`). */
static const ptm_load_record *find_record(ptm_context *ctx, const char *path_end, const char *comp)
{
    size_t n = ptm_context_load_report_size(ctx);
    for (size_t i = 0; i < n; i++) {
        const ptm_load_record *r = ptm_context_load_report(ctx, i);
        if (!ends_with(r->path, path_end))
            continue;
        if (comp && (!r->component || strcmp(r->component, comp) != 0))
            continue;
        return r;
    }
    return NULL;
}

static size_t record_index(ptm_context *ctx, const char *path_end)
{
    size_t n = ptm_context_load_report_size(ctx);
    for (size_t i = 0; i < n; i++)
        if (ends_with(ptm_context_load_report(ctx, i)->path, path_end))
            return i;
    return SIZE_MAX;
}

/* Print the report (shown only when a check in the test fails). */
static void dump_report(ptm_context *ctx)
{
    size_t n = ptm_context_load_report_size(ctx);
    for (size_t i = 0; i < n; i++) {
        const ptm_load_record *r = ptm_context_load_report(ctx, i);
        fprintf(stderr, "  [%zu] %s plugin=%s %s:%s %s: %s\n", i, r->path, r->plugin ? r->plugin : "-",
                ptm_component_kind_str(r->kind), r->component ? r->component : "-", ptm_load_outcome_str(r->outcome),
                r->reason);
    }
}

/* Expect a record for `file` with `outcome`, a non-empty reason containing
 * `needle`. */
static void expect_refused(ptm_context *ctx, const char *file, ptm_load_outcome outcome, const char *needle)
{
    const ptm_load_record *r = find_record(ctx, file, NULL);
    CHECK(r != NULL);
    if (!r) {
        fprintf(stderr, "  no record for %s\n", file);
        return;
    }
    if (r->outcome != outcome || !r->reason[0] || !strstr(r->reason, needle)) {
        fprintf(stderr, "  %s: outcome \"%s\", reason \"%s\"; wanted \"%s\" with \"%s\"\n", file,
                ptm_load_outcome_str(r->outcome), r->reason, ptm_load_outcome_str(outcome), needle);
        check_failed_in_test = 1;
    }
    CHECK(r->component == NULL);
}

static const char *component_plugin(ptm_context *ctx, ptm_component_kind kind, const char *name)
{
    size_t n = ptm_context_component_count(ctx);
    for (size_t i = 0; i < n; i++) {
        ptm_component_info info;
        if (ptm_context_component(ctx, i, &info) == PTM_OK && info.kind == kind && strcmp(info.name, name) == 0)
            return info.plugin;
    }
    return NULL;
}

/* ------------------------------------------------------------ tests */

TEST(strings)
{
    CHECK(strcmp(ptm_load_outcome_str(PTM_LOAD_OK), "ok") == 0);
    CHECK(strcmp(ptm_load_outcome_str(PTM_LOAD_NO_ENTRY), "no entry symbol") == 0);
    CHECK(strcmp(ptm_load_outcome_str(PTM_LOAD_SHADOWED), "shadowed") == 0);
    CHECK(strcmp(ptm_load_outcome_str((ptm_load_outcome)99), "unknown outcome") == 0);
    CHECK(strcmp(ptm_component_kind_str(PTM_KIND_ARCH), "arch") == 0);
    CHECK(strcmp(ptm_component_kind_str(PTM_KIND_BACKEND), "backend") == 0);
}

TEST(broken_plugins_refused)
{
    const char *paths[] = {BROKEN};
    ptm_context *ctx = ctx_with(paths, 1);
    if (!ctx)
        return;
    CHECK_OK(ptm_context_load_plugins(ctx));
    expect_refused(ctx, "/ptmtest_noentry.so", PTM_LOAD_NO_ENTRY, "ptm_plugin_entry");
    expect_refused(ctx, "/ptmtest_abimajor.so", PTM_LOAD_ABI_MAJOR, "2.0");
    char core_abi[32], newer_abi[32];
    snprintf(core_abi, sizeof core_abi, "core ABI %d.%d", PTM_ABI_MAJOR, PTM_ABI_MINOR);
    snprintf(newer_abi, sizeof newer_abi, "plugin ABI %d.%d", PTM_ABI_MAJOR, PTM_ABI_MINOR + 1);
    expect_refused(ctx, "/ptmtest_abimajor.so", PTM_LOAD_ABI_MAJOR, core_abi);
    expect_refused(ctx, "/ptmtest_abinewer.so", PTM_LOAD_ABI_TOO_NEW, newer_abi);
    expect_refused(ctx, "/ptmtest_initfail.so", PTM_LOAD_INIT_FAILED, "simulated failure");
    expect_refused(ctx, "/ptmtest_nulldesc.so", PTM_LOAD_BAD_DESCRIPTOR, "NULL");
    expect_refused(ctx, "/ptmtest_smalldesc.so", PTM_LOAD_BAD_DESCRIPTOR, "struct_size");
    expect_refused(ctx, "/ptmtest_badvtable.so", PTM_LOAD_INIT_FAILED, "struct_size");
    expect_refused(ctx, "/notaplugin.so", PTM_LOAD_OPEN_FAILED, "notaplugin.so"); /* dlerror names the file */

    /* The plugin name is known once the descriptor could be read. */
    const ptm_load_record *r = find_record(ctx, "/ptmtest_abinewer.so", NULL);
    CHECK(r && r->plugin && strcmp(r->plugin, "abinewer") == 0);
    r = find_record(ctx, "/ptmtest_noentry.so", NULL);
    CHECK(r && r->plugin == NULL);
    r = find_record(ctx, "/ptmtest_initfail.so", NULL);
    CHECK(r && r->plugin && strcmp(r->plugin, "initfail") == 0);

    /* One record per file (initfail's backend record was withdrawn), in
     * strcmp order of the file names. */
    CHECK(ptm_context_load_report_size(ctx) == 8);
    const char *order[] = {"/notaplugin.so",      "/ptmtest_abimajor.so", "/ptmtest_abinewer.so",
                           "/ptmtest_badvtable.so", "/ptmtest_initfail.so", "/ptmtest_noentry.so",
                           "/ptmtest_nulldesc.so",  "/ptmtest_smalldesc.so"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        CHECK(record_index(ctx, order[i]) == i);

    /* Nothing of a refused plugin stays registered. */
    CHECK(ptm_context_component_count(ctx) == 0);
    CHECK(ptm_context_find_backend(ctx, "initfail_backend") == NULL);
    CHECK(ptm_context_find_format(ctx, "tinyformat") == NULL);
    if (check_failed_in_test)
        dump_report(ctx);
    ptm_context_free(ctx);
}

TEST(good_plugins_load)
{
    const char *paths[] = {GOOD};
    ptm_context *ctx = ctx_with(paths, 1);
    if (!ctx)
        return;
    const ptm_backend *be = ptm_context_find_backend(ctx, "testbackend");
    CHECK(be != NULL);
    if (be) {
        CHECK(strcmp(be->name, "testbackend") == 0);
        CHECK(be->device_count() == 1);
    }
    /* testbackend's 1 + testformats' 2 formats + 3 arch names. */
    CHECK(ptm_context_component_count(ctx) == 6);
    ptm_component_info info;
    CHECK_OK(ptm_context_component(ctx, 0, &info));
    CHECK(info.kind == PTM_KIND_BACKEND && strcmp(info.name, "testbackend") == 0);
    CHECK(strcmp(info.plugin, "testbackend") == 0 && strcmp(info.plugin_version, "0.1.0") == 0);
    CHECK(ends_with(info.path, "/loader-good/ptmtest_backend.so"));
    CHECK(info.vtable == be);
    CHECK_ERR(ptm_context_component(ctx, 6, &info), PTM_ERR_INVALID_ARG, "out of range");

    /* One OK record per component, naming kind and component. */
    const ptm_load_record *r = find_record(ctx, "/ptmtest_formats.so", "TestArchLMHeadModel");
    CHECK(r && r->outcome == PTM_LOAD_OK && r->kind == PTM_KIND_ARCH && strcmp(r->plugin, "testformats") == 0);
    CHECK(r && r->reason && r->reason[0] == '\0');
    CHECK(ptm_context_load_report_size(ctx) == 6);
    /* Idempotent. */
    CHECK_OK(ptm_context_load_plugins(ctx));
    CHECK(ptm_context_load_report_size(ctx) == 6);
    ptm_context_free(ctx);
}

TEST(find_arch_by_class_and_model_type)
{
    const char *paths[] = {GOOD};
    ptm_context *ctx = ctx_with(paths, 1);
    if (!ctx)
        return;
    const ptm_arch *by_type = ptm_context_find_arch(ctx, "testarch");
    const ptm_arch *by_base = ptm_context_find_arch(ctx, "TestArchModel");
    const ptm_arch *by_head = ptm_context_find_arch(ctx, "TestArchLMHeadModel");
    CHECK(by_type != NULL);
    CHECK(by_type == by_base && by_type == by_head);
    CHECK(by_type && strcmp(by_type->model_type, "testarch") == 0);
    /* Exact names only. */
    CHECK(ptm_context_find_arch(ctx, "TESTARCH") == NULL);
    CHECK(ptm_context_find_arch(ctx, "TestArch") == NULL);
    /* A format name is not an arch name. */
    CHECK(ptm_context_find_arch(ctx, "testfmt_lo") == NULL);
    ptm_context_free(ctx);
}

TEST(not_found_lists_available_and_searched)
{
    const char *paths[] = {GOOD, MISSING};
    ptm_context *ctx = ctx_with(paths, 2);
    if (!ctx)
        return;
    CHECK(ptm_context_find_arch(ctx, "nope") == NULL);
    const char *e = ptm_last_error();
    CHECK(strstr(e, "no architecture \"nope\" is registered") != NULL);
    CHECK(strstr(e, "available: testarch, TestArchModel, TestArchLMHeadModel;") != NULL);
    CHECK(strstr(e, "searched: " GOOD ", " MISSING) != NULL);

    CHECK(ptm_context_find_backend(ctx, "cuda") == NULL);
    CHECK(strstr(ptm_last_error(), "no backend \"cuda\"") != NULL);
    CHECK(strstr(ptm_last_error(), "available: testbackend;") != NULL);

    CHECK(ptm_context_find_format(ctx, "h5") == NULL);
    CHECK(strstr(ptm_last_error(), "available: testfmt_lo, testfmt_hi;") != NULL);
    if (check_failed_in_test)
        fprintf(stderr, "  last error: %s\n", ptm_last_error());
    ptm_context_free(ctx);

    /* Nothing registered and nothing searched. */
    ctx = ctx_with(NULL, 0);
    if (!ctx)
        return;
    CHECK(ptm_context_find_backend(ctx, "cpu") == NULL);
    CHECK(strstr(ptm_last_error(), "available: none; searched: nothing") != NULL);
    ptm_context_free(ctx);
}

TEST(shadowing_first_wins)
{
    const char *good_first[] = {GOOD, SHADOW};
    ptm_context *ctx = ctx_with(good_first, 2);
    if (!ctx)
        return;
    CHECK_OK(ptm_context_load_plugins(ctx));
    const char *p = component_plugin(ctx, PTM_KIND_ARCH, "testarch");
    CHECK(p && strcmp(p, "testformats") == 0);
    p = component_plugin(ctx, PTM_KIND_ARCH, "TestArchModel");
    CHECK(p && strcmp(p, "testformats") == 0);
    p = component_plugin(ctx, PTM_KIND_FORMAT, "testfmt_hi");
    CHECK(p && strcmp(p, "testformats") == 0);
    /* testshadow's own names are registered. */
    p = component_plugin(ctx, PTM_KIND_ARCH, "ShadowOnlyModel");
    CHECK(p && strcmp(p, "testshadow") == 0);
    const ptm_backend *sb = ptm_context_find_backend(ctx, "shadowbackend");
    CHECK(sb && sb->device_count() == 2);
    /* The lost names are reported as shadowed, naming the winner. */
    const char *lost[] = {"testarch", "TestArchModel", "testfmt_hi"};
    for (size_t i = 0; i < 3; i++) {
        const ptm_load_record *r = find_record(ctx, "/ptmtest_shadow.so", lost[i]);
        CHECK(r && r->outcome == PTM_LOAD_SHADOWED);
        CHECK(r && strcmp(r->plugin, "testshadow") == 0);
        CHECK(r && strstr(r->reason, "\"testformats\"") && strstr(r->reason, "ptmtest_formats.so"));
    }
    const ptm_load_record *r = find_record(ctx, "/ptmtest_shadow.so", "ShadowOnlyModel");
    CHECK(r && r->outcome == PTM_LOAD_OK);
    if (check_failed_in_test)
        dump_report(ctx);
    ptm_context_free(ctx);

    /* The other order: testshadow wins the shared names. */
    const char *shadow_first[] = {SHADOW, GOOD};
    ctx = ctx_with(shadow_first, 2);
    if (!ctx)
        return;
    p = component_plugin(ctx, PTM_KIND_ARCH, "testarch");
    CHECK(p && strcmp(p, "testshadow") == 0);
    p = component_plugin(ctx, PTM_KIND_ARCH, "TestArchLMHeadModel");
    CHECK(p && strcmp(p, "testformats") == 0);
    r = find_record(ctx, "/ptmtest_formats.so", "testarch");
    CHECK(r && r->outcome == PTM_LOAD_SHADOWED && strstr(r->reason, "\"testshadow\""));
    ptm_context_free(ctx);
}

TEST(missing_dir_and_duplicate_plugin)
{
    const char *paths[] = {MISSING, GOOD, GOOD "/ptmtest_backend.so"};
    ptm_context *ctx = ctx_with(paths, 3);
    if (!ctx)
        return;
    CHECK_OK(ptm_context_load_plugins(ctx));
    const ptm_load_record *r = ptm_context_load_report(ctx, 0);
    CHECK(r && strcmp(r->path, MISSING) == 0 && r->outcome == PTM_LOAD_DIR_MISSING && r->reason[0]);
    CHECK(r && r->kind == PTM_KIND_NONE && r->plugin == NULL);
    /* The same file again, through a second path: refused and closed. */
    size_t n = ptm_context_load_report_size(ctx);
    r = ptm_context_load_report(ctx, n - 1);
    CHECK(r && strcmp(r->path, GOOD "/ptmtest_backend.so") == 0);
    CHECK(r && r->outcome == PTM_LOAD_DUPLICATE_PLUGIN && strstr(r->reason, "already loaded"));
    CHECK(r && r->plugin && strcmp(r->plugin, "testbackend") == 0);
    CHECK(ptm_context_find_backend(ctx, "testbackend") != NULL);
    CHECK(ptm_context_load_report(ctx, n) == NULL);
    if (check_failed_in_test)
        dump_report(ctx);
    ptm_context_free(ctx);

    /* A name without ".so" is completed by libltdl. */
    const char *bare[] = {GOOD "/ptmtest_backend"};
    ctx = ctx_with(bare, 1);
    if (!ctx)
        return;
    CHECK(ptm_context_find_backend(ctx, "testbackend") != NULL);
    ptm_context_free(ctx);
}

TEST(env_plugin_path)
{
    /* Empty entries skipped; a directory, a missing one and a file. */
    setenv("PTM_PLUGIN_PATH", "::" MISSING "::" GOOD ":" SHADOW "/ptmtest_shadow.so:", 1);
    ptm_context_options o;
    ptm_context_options_init(&o);
    o.skip_install_dir = 1;
    ptm_context *ctx = NULL;
    CHECK_OK(ptm_context_new(&o, &ctx));
    if (ctx) {
        CHECK(ptm_context_find_backend(ctx, "testbackend") != NULL);
        CHECK(ptm_context_find_backend(ctx, "shadowbackend") != NULL);
        const ptm_load_record *r = ptm_context_load_report(ctx, 0);
        CHECK(r && strcmp(r->path, MISSING) == 0 && r->outcome == PTM_LOAD_DIR_MISSING);
        size_t n = ptm_context_load_report_size(ctx);
        for (size_t i = 0; i < n; i++)
            CHECK(ptm_context_load_report(ctx, i)->path[0] != '\0');
        CHECK(ptm_context_find_arch(ctx, "nope") == NULL);
        CHECK(strstr(ptm_last_error(), "searched: " MISSING ", " GOOD ", " SHADOW "/ptmtest_shadow.so)") != NULL);
        ptm_context_free(ctx);
    }

    /* Explicit paths come before the environment's. */
    const char *paths[] = {SHADOW};
    o.plugin_paths = paths;
    o.n_plugin_paths = 1;
    setenv("PTM_PLUGIN_PATH", GOOD, 1);
    ctx = NULL;
    CHECK_OK(ptm_context_new(&o, &ctx));
    if (ctx) {
        const char *p = component_plugin(ctx, PTM_KIND_ARCH, "testarch");
        CHECK(p && strcmp(p, "testshadow") == 0);
        CHECK(ptm_context_find_backend(ctx, "testbackend") != NULL);
        ptm_context_free(ctx);
    }

    /* ignore_env: PTM_PLUGIN_PATH is not read. */
    o.ignore_env = 1;
    ctx = NULL;
    CHECK_OK(ptm_context_new(&o, &ctx));
    if (ctx) {
        CHECK(ptm_context_find_backend(ctx, "testbackend") == NULL);
        CHECK(strstr(ptm_last_error(), GOOD) == NULL);
        CHECK(find_record(ctx, "/ptmtest_backend.so", NULL) == NULL);
        ptm_context_free(ctx);
    }
    unsetenv("PTM_PLUGIN_PATH");
}

TEST(install_dir_searched)
{
    /* The build tree mirrors the install layout: libptm in build/lib, its
     * plugins in build/lib/ptm/plugins, found next to the loaded libptm. */
    ptm_context_options o;
    ptm_context_options_init(&o);
    o.ignore_env = 1;
    ptm_context *ctx = NULL;
    CHECK_OK(ptm_context_new(&o, &ctx));
    if (!ctx)
        return;
    CHECK(ptm_context_find_backend(ctx, "no-such-backend") == NULL);
    CHECK(strstr(ptm_last_error(), PTM_BUILD_PLUGIN_DIR) != NULL);
    if (check_failed_in_test)
        fprintf(stderr, "  last error: %s\n", ptm_last_error());
    ptm_context_free(ctx);

    o.skip_install_dir = 1;
    CHECK_OK(ptm_context_new(&o, &ctx));
    if (!ctx)
        return;
    CHECK(ptm_context_find_backend(ctx, "no-such-backend") == NULL);
    CHECK(strstr(ptm_last_error(), "searched: nothing") != NULL);
    CHECK(ptm_context_load_report_size(ctx) == 0);
    ptm_context_free(ctx);
}

/* ------------------------------------------------------------ in-process */

static int host_device_count(void) { return 7; }
static const ptm_backend host_backend = {
    .struct_size = sizeof(ptm_backend), .name = "testbackend", .device_count = host_device_count};

static ptm_status host_register(ptm_registrar *reg) { return ptm_registrar_add_backend(reg, &host_backend); }
static const ptm_plugin host_plugin = {PTM_PLUGIN_HEADER, "hostplugin", "9.9", "linked into the test", "MIT",
                                       host_register};

static ptm_status fail_register(ptm_registrar *reg)
{
    ptm_status s = ptm_registrar_add_backend(reg, &host_backend);
    return s != PTM_OK ? s : ptm_error(PTM_ERR_CONFIG, "host init failed on purpose");
}
static const ptm_plugin fail_plugin = {PTM_PLUGIN_HEADER, "hostfail", "1", "", "MIT", fail_register};
static const ptm_plugin future_plugin = {sizeof(ptm_plugin), PTM_ABI_MAJOR + 1, 0, "future", "1", "", "MIT",
                                         host_register};

static ptm_status stub_create(const ptm_config *cfg, const char *class_name, void **state)
{
    (void)cfg; (void)class_name; (void)state;
    return PTM_ERR_UNSUPPORTED;
}
static void stub_destroy(void *state) { (void)state; }
static ptm_status stub_declare(void *state, ptm_param_list *params)
{
    (void)state; (void)params;
    return PTM_OK;
}

/* Vtables the registrar must refuse. */
static ptm_registrar *saved_reg;
static ptm_status bad_vtables_register(ptm_registrar *reg)
{
    saved_reg = reg;
    ptm_backend small = {.struct_size = offsetof(ptm_backend, device_count), .name = "small"};
    ptm_backend no_fn = {.struct_size = sizeof(ptm_backend), .name = "nofn"};
    ptm_arch nameless;
    memset(&nameless, 0, sizeof nameless);
    nameless.struct_size = sizeof nameless;
    nameless.create = stub_create;
    nameless.destroy = stub_destroy;
    nameless.declare = stub_declare;
    int ok = 1;
    ok &= ptm_registrar_add_backend(reg, NULL) == PTM_ERR_INVALID_ARG;
    ok &= ptm_registrar_add_backend(reg, &small) == PTM_ERR_INVALID_ARG && strstr(ptm_last_error(), "struct_size");
    ok &= ptm_registrar_add_backend(reg, &no_fn) == PTM_ERR_INVALID_ARG && strstr(ptm_last_error(), "device_count");
    ok &= ptm_registrar_add_arch(reg, &nameless) == PTM_ERR_INVALID_ARG && strstr(ptm_last_error(), "model_type");
    ok &= ptm_registrar_add_format(reg, NULL) == PTM_ERR_INVALID_ARG;
    return ok ? PTM_OK : ptm_error(PTM_ERR_INVALID_ARG, "a bad vtable was accepted");
}
static const ptm_plugin bad_vtables_plugin = {PTM_PLUGIN_HEADER, "badvtables", "1", "", "MIT",
                                              bad_vtables_register};

TEST(in_process_plugins)
{
    const char *paths[] = {GOOD};
    ptm_context *ctx = ctx_with(paths, 1);
    if (!ctx)
        return;
    CHECK_ERR(ptm_context_register_plugin(ctx, NULL), PTM_ERR_INVALID_ARG, "NULL");
    CHECK_ERR(ptm_context_register_plugin(ctx, &future_plugin), PTM_ERR_ABI, "2.0");
    CHECK_ERR(ptm_context_register_plugin(ctx, &fail_plugin), PTM_ERR_CONFIG, "host init failed on purpose");
    CHECK_OK(ptm_context_register_plugin(ctx, &host_plugin));
    CHECK_ERR(ptm_context_register_plugin(ctx, &host_plugin), PTM_ERR_EXISTS, "already loaded");
    CHECK_OK(ptm_context_register_plugin(ctx, &bad_vtables_plugin));
    CHECK_ERR(ptm_registrar_add_backend(saved_reg, &host_backend), PTM_ERR_STATE, "outside register_components");

    /* In-process plugins are searched first: the host's testbackend wins. */
    const ptm_backend *be = ptm_context_find_backend(ctx, "testbackend");
    CHECK(be == &host_backend);
    ptm_component_info info;
    size_t n = ptm_context_component_count(ctx);
    CHECK(n == 6);
    CHECK_OK(ptm_context_component(ctx, 0, &info));
    CHECK(info.vtable == &host_backend && strcmp(info.path, "(in-process)") == 0);
    CHECK(strcmp(info.plugin, "hostplugin") == 0 && strcmp(info.plugin_version, "9.9") == 0);
    const ptm_load_record *r = find_record(ctx, "/ptmtest_backend.so", "testbackend");
    CHECK(r && r->outcome == PTM_LOAD_SHADOWED && strstr(r->reason, "\"hostplugin\"") &&
          strstr(r->reason, "(in-process)"));
    r = find_record(ctx, "(in-process)", "testbackend");
    CHECK(r && r->outcome == PTM_LOAD_OK && r->kind == PTM_KIND_BACKEND);
    /* The failed in-process attempts are in the report too. */
    r = ptm_context_load_report(ctx, 0);
    CHECK(r && strcmp(r->path, "(in-process)") == 0 && r->outcome == PTM_LOAD_ABI_MAJOR);
    r = ptm_context_load_report(ctx, 1);
    CHECK(r && r->outcome == PTM_LOAD_INIT_FAILED && strstr(r->reason, "on purpose"));
    /* The refused vtables left records naming why. */
    r = find_record(ctx, "(in-process)", "nofn");
    CHECK(r && r->outcome == PTM_LOAD_BAD_DESCRIPTOR && r->kind == PTM_KIND_BACKEND);

    /* After discovery it is too late. */
    CHECK_ERR(ptm_context_register_plugin(ctx, &host_plugin), PTM_ERR_STATE, "already discovered");
    CHECK(ptm_context_find_arch(ctx, "nope") == NULL);
    CHECK(strstr(ptm_last_error(), "searched: (in-process), " GOOD) != NULL);
    if (check_failed_in_test)
        dump_report(ctx);
    ptm_context_free(ctx);
}

/* ------------------------------------------------------------ detect */

static size_t last_head_len = SIZE_MAX;
static int tie_probe(const char *path, const uint8_t *head, size_t len)
{
    (void)path;
    last_head_len = len;
    return len >= 3 && memcmp(head, "TIE", 3) == 0 ? 50 : 0;
}
static ptm_status t_open(const char *path, void **src)
{
    (void)src;
    return ptm_error(PTM_ERR_UNSUPPORTED, "%s", path);
}
static void t_close(void *src) { (void)src; }
static size_t t_count(void *src) { (void)src; return 0; }
static ptm_status t_info(void *src, size_t i, ptm_tensor_info *o)
{
    (void)src; (void)i; (void)o;
    return PTM_ERR_UNSUPPORTED;
}
static ptm_status t_load(void *src, size_t i, ptm_tensor **o)
{
    (void)src; (void)i; (void)o;
    return PTM_ERR_UNSUPPORTED;
}
static const ptm_format tie_a = {.struct_size = sizeof(ptm_format), .name = "tie_a", .probe = tie_probe,
                                 .open = t_open, .close = t_close, .count = t_count, .info = t_info, .load = t_load};
static const ptm_format tie_b = {.struct_size = sizeof(ptm_format), .name = "tie_b", .probe = tie_probe,
                                 .open = t_open, .close = t_close, .count = t_count, .info = t_info, .load = t_load};
static ptm_status ties_register(ptm_registrar *reg)
{
    ptm_status s = ptm_registrar_add_format(reg, &tie_a);
    return s == PTM_OK ? ptm_registrar_add_format(reg, &tie_b) : s;
}
static const ptm_plugin ties_plugin = {PTM_PLUGIN_HEADER, "ties", "1", "", "MIT", ties_register};

static void write_bytes(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, len, f) == len);
        fclose(f);
    }
}

TEST(detect_format)
{
    const char *paths[] = {GOOD};
    ptm_context *ctx = ctx_with(paths, 1);
    if (!ctx)
        return;
    CHECK_OK(ptm_context_register_plugin(ctx, &ties_plugin));
    const char *hi = PTM_TEST_TMP "/loader_hi.bin", *lo = PTM_TEST_TMP "/loader_lo.bin";
    const char *tie = PTM_TEST_TMP "/loader_tie.bin", *none = PTM_TEST_TMP "/loader_none.bin";
    const char *empty = PTM_TEST_TMP "/loader_empty.bin";
    write_bytes(hi, "PTMTESTHI and more", 18);
    write_bytes(lo, "PTMTEST-lo", 10);
    char big[100];
    memset(big, 'T', sizeof big);
    memcpy(big, "TIE", 3);
    write_bytes(tie, big, sizeof big);
    write_bytes(none, "zzz", 3);
    write_bytes(empty, "", 0);

    /* Both test formats claim "PTMTESTHI..." (10 and 90): the higher wins. */
    const ptm_format *f = ptm_context_detect_format(ctx, hi);
    CHECK(f && strcmp(f->name, "testfmt_hi") == 0);
    f = ptm_context_detect_format(ctx, lo);
    CHECK(f && strcmp(f->name, "testfmt_lo") == 0);
    /* Equal scores: the first registered wins; probes see 64 bytes at most. */
    f = ptm_context_detect_format(ctx, tie);
    CHECK(f == &tie_a);
    CHECK(last_head_len == 64);
    /* Nobody claims it: the error names the file and the formats tried. */
    CHECK(ptm_context_detect_format(ctx, none) == NULL);
    CHECK(strstr(ptm_last_error(), none) != NULL);
    CHECK(strstr(ptm_last_error(), "tried: tie_a, tie_b, testfmt_lo, testfmt_hi;") != NULL);
    /* An empty file is probed with head_len 0. */
    CHECK(ptm_context_detect_format(ctx, empty) == NULL);
    CHECK(last_head_len == 0);
    /* A missing file. */
    CHECK(ptm_context_detect_format(ctx, PTM_TEST_TMP "/loader_no_such_file") == NULL);
    CHECK(strstr(ptm_last_error(), "loader_no_such_file") != NULL);
    if (check_failed_in_test)
        fprintf(stderr, "  last error: %s\n", ptm_last_error());
    ptm_context_free(ctx);
    remove(hi);
    remove(lo);
    remove(tie);
    remove(none);
    remove(empty);
}

TEST(options)
{
    ptm_context *ctx = NULL;
    CHECK_ERR(ptm_context_new(NULL, NULL), PTM_ERR_INVALID_ARG, "out");
    ptm_context_options o;
    ptm_context_options_init(&o);
    CHECK(o.struct_size == sizeof o && o.plugin_paths == NULL && o.ignore_env == 0 && o.skip_install_dir == 0);
    o.n_plugin_paths = 2;
    CHECK_ERR(ptm_context_new(&o, &ctx), PTM_ERR_INVALID_ARG, "plugin_paths");
    CHECK(ctx == NULL);
    /* A caller compiled when the options ended after plugin_paths: the
     * later members are not read (defaults apply). */
    const char *paths[] = {GOOD};
    ptm_context_options_init(&o);
    o.plugin_paths = paths;
    o.n_plugin_paths = 1;
    o.struct_size = offsetof(ptm_context_options, ignore_env);
    o.skip_install_dir = 12345; /* garbage beyond struct_size */
    CHECK_OK(ptm_context_new(&o, &ctx));
    if (ctx) {
        CHECK(ptm_context_find_backend(ctx, "testbackend") != NULL);
        ptm_context_free(ctx);
    }
    ptm_context_free(NULL);
    CHECK(ptm_context_load_report_size(NULL) == 0);
    CHECK(ptm_context_find_arch(NULL, "x") == NULL);
}

/* ------------------------------------------------------------ threads */

static void *count_components(void *ctx)
{
    ptm_context_component_count(ctx);
    return NULL;
}

static void *thread_main(void *arg)
{
    int *failures = arg;
    const char *paths[] = {GOOD, SHADOW, BROKEN};
    for (int i = 0; i < 20; i++) {
        ptm_context_options o;
        ptm_context_options_init(&o);
        o.plugin_paths = paths;
        o.n_plugin_paths = 3;
        o.ignore_env = 1;
        o.skip_install_dir = 1;
        ptm_context *ctx = NULL;
        if (ptm_context_new(&o, &ctx) != PTM_OK) {
            (*failures)++;
            continue;
        }
        if (ptm_context_load_plugins(ctx) != PTM_OK)
            (*failures)++;
        const ptm_backend *be = ptm_context_find_backend(ctx, "testbackend");
        if (!be || be->device_count() != 1)
            (*failures)++;
        if (!ptm_context_find_arch(ctx, "ShadowOnlyModel"))
            (*failures)++;
        const ptm_load_record *r = find_record(ctx, "/notaplugin.so", NULL);
        if (!r || r->outcome != PTM_LOAD_OPEN_FAILED)
            (*failures)++;
        if (ptm_context_find_backend(ctx, "initfail_backend"))
            (*failures)++;
        ptm_context_free(ctx);
    }
    return NULL;
}

TEST(threads)
{
    pthread_t t[2];
    int failures[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, thread_main, &failures[i]) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    CHECK(failures[0] == 0 && failures[1] == 0);

    /* One context shared by threads whose first lookup triggers loading. */
    const char *paths[] = {GOOD};
    ptm_context *ctx = ctx_with(paths, 1);
    if (!ctx)
        return;
    pthread_t u[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&u[i], NULL, count_components, ctx) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(u[i], NULL) == 0);
    CHECK(ptm_context_component_count(ctx) == 6);
    CHECK(ptm_context_load_report_size(ctx) == 6);
    ptm_context_free(ctx);
}

int main(void)
{
    RUN(strings);
    RUN(broken_plugins_refused);
    RUN(good_plugins_load);
    RUN(find_arch_by_class_and_model_type);
    RUN(not_found_lists_available_and_searched);
    RUN(shadowing_first_wins);
    RUN(missing_dir_and_duplicate_plugin);
    RUN(env_plugin_path);
    RUN(install_dir_searched);
    RUN(in_process_plugins);
    RUN(detect_format);
    RUN(options);
    RUN(threads);
    return CHECK_DONE();
}
