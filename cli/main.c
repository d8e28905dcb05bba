/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - the `ptm` command: dispatch to subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"download", cmd_download, "download a model (or files) from the Hugging Face Hub into the cache"},
    {"plugins", cmd_plugins, "list registered architectures, formats and backends"},
    {"info", cmd_info, "describe a model: type, class, dtype, parameters, memory, files"},
    {"convert", cmd_convert, "load a model and save it again (format, dtype, shards)"},
    {"run", cmd_run, "one forward pass on token ids: top next tokens, logits to a file"},
    {"generate", cmd_generate, "continue a prompt (greedy or sampled), streaming the tokens"},
    {"push", cmd_push, "upload a model to a Hugging Face Hub repository (push_to_hub)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ptm [--version] [--help] COMMAND [ARGS]\n\n"
               "Load, inspect, convert, run, download and push Hugging Face transformers\n"
               "checkpoints (MODEL: a folder, a weights file or a Hub repo id).\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun `ptm COMMAND --help` for a command's options.\n"
               "Plugins are searched in PTM_PLUGIN_PATH (colon-separated) and next to libptm.\n");
}

int main(int argc, char **argv)
{
    cli_setup_logging();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ptm %s (plugin ABI %d.%d)\n", ptm_version(), PTM_ABI_MAJOR, PTM_ABI_MINOR);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ptm: unknown command \"%s\" (run `ptm --help`)\n", argv[1]);
    return 2;
}
