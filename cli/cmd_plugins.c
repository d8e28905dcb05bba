/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_plugins.c - `ptm plugins [-v]`. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: ptm plugins [-v]\n\n"
    "List the registered architectures, formats and backends with the plugin\n"
    "file and version that provides each.\n\n"
    "  -v, --verbose   also print the load report: every plugin file tried, in\n"
    "                  search order, with its outcome (loaded, shadowed, refused\n"
    "                  and why), and each backend's devices\n"
    "  -h, --help      show this help\n\n"
    "Search order: plugins linked into the host, PTM_PLUGIN_PATH (colon-separated\n"
    "files or folders), then <libdir>/ptm/plugins next to libptm.\n";

int cmd_plugins(int argc, char **argv)
{
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            verbose = 1;
        } else {
            fprintf(stderr, "ptm plugins: unknown option \"%s\" (see ptm plugins --help)\n", argv[i]);
            return 2;
        }
    }
    ptm_context *ctx;
    if (cli_context("plugins", &ctx))
        return 1;
    if (ptm_context_load_plugins(ctx) != PTM_OK) {
        ptm_context_free(ctx);
        return cli_fail("plugins", "loading plugins");
    }
    static const struct {
        ptm_component_kind kind;
        const char *title;
    } kinds[] = {{PTM_KIND_ARCH, "architectures"}, {PTM_KIND_FORMAT, "formats"}, {PTM_KIND_BACKEND, "backends"}};
    size_t n = ptm_context_component_count(ctx);
    for (size_t k = 0; k < 3; k++) {
        printf("%s:\n", kinds[k].title);
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            ptm_component_info c;
            if (ptm_context_component(ctx, i, &c) != PTM_OK || c.kind != kinds[k].kind)
                continue;
            any = 1;
            printf("  %-24s %s %s  %s\n", c.name, c.plugin, c.plugin_version ? c.plugin_version : "?", c.path);
            if (verbose && c.kind == PTM_KIND_BACKEND) {
                const ptm_backend *be = c.vtable;
                int nd = be->device_count ? be->device_count() : 0;
                for (int d = 0; d < nd; d++) {
                    char name[256] = "";
                    if (!be->device_name || be->device_name(d, name, sizeof name) != PTM_OK)
                        snprintf(name, sizeof name, "%s device %d", c.name, d);
                    printf("    %s:%d  %s\n", c.name, d, name);
                }
                if (!nd)
                    printf("    (no devices)\n");
            }
        }
        if (!any)
            printf("  (none)\n");
    }
    if (verbose) {
        printf("load report:\n");
        size_t nr = ptm_context_load_report_size(ctx);
        for (size_t i = 0; i < nr; i++) {
            const ptm_load_record *r = ptm_context_load_report(ctx, i);
            printf("  %-16s %s", ptm_load_outcome_str(r->outcome), r->path);
            if (r->plugin)
                printf("  plugin=%s", r->plugin);
            if (r->component)
                printf("  %s=%s", ptm_component_kind_str(r->kind), r->component);
            if (r->reason && *r->reason)
                printf("  (%s)", r->reason);
            printf("\n");
        }
    }
    ptm_context_free(ctx);
    return 0;
}
