/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_download.c - `ptm download REPO_ID [FILENAME...]`: fetch into the
 * Hugging Face cache and print where the files are. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ptm download REPO_ID [FILENAME...] [--revision R] [--cache-dir D]\n"
    "                    [--token T] [--endpoint URL] [--force-download]\n"
    "                    [--local-files-only] [--subfolder S] [--from-tf | --from-flax]\n\n"
    "Download from the Hugging Face Hub (or a mirror) into the cache that the\n"
    "Python huggingface_hub library shares.  Without FILENAME: what loading the\n"
    "model needs (config.json, the weights in transformers' order, the shards\n"
    "of an index; generation_config.json, tokenizer_config.json and\n"
    "special_tokens_map.json when the repo has them), printing the snapshot\n"
    "folder.  With FILENAMEs: those files,\n"
    "printing each one's path in the snapshot.\n\n"
    CLI_HUB_HELP
    "  --from-tf       fetch tf_model.h5 (transformers' from_tf=True)\n"
    "  --from-flax     fetch flax_model.msgpack (transformers' from_flax=True)\n"
    "  -h, --help      show this help\n\n"
    "Exit status: 0 ok, 1 other error, 2 usage, 3 network (timeout, server\n"
    "error, wrong size or hash), 4 repository not found, 5 gated or\n"
    "unauthorized, 6 revision not found, 7 file not found, 8 offline and not\n"
    "cached.\n";

int cmd_download(int argc, char **argv)
{
    ptm_hub_options h;
    cli_hub_options_init(&h);
    const char *repo = NULL;
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t nfiles = 0;
    int from_tf = 0, from_flax = 0, r;
    if (!files) {
        fprintf(stderr, "ptm download: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            free(files);
            return 0;
        } else if ((r = cli_hub_option("download", argc, argv, &i, &h))) {
            if (r == 2) {
                free(files);
                return 2;
            }
        } else if (!strcmp(argv[i], "--from-tf")) {
            from_tf = 1;
        } else if (!strcmp(argv[i], "--from-flax")) {
            from_flax = 1;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ptm download: unexpected argument \"%s\" (see ptm download --help)\n", argv[i]);
            free(files);
            return 2;
        } else if (!repo) {
            repo = argv[i];
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (!repo) {
        fprintf(stderr, "ptm download: missing REPO_ID (see ptm download --help)\n");
        free(files);
        return 2;
    }
    if (!ptm_hub_is_repo_id(repo)) {
        fprintf(stderr, "ptm download: \"%s\" is not a Hub repo id (\"name\" or \"org/name\")\n", repo);
        free(files);
        return 2;
    }
    int rc = 0;
    if (!nfiles) {
        char *dir = NULL;
        if (cli_record(ptm_hub_snapshot_for_load(NULL, repo, &h, from_tf, from_flax, &dir)) != PTM_OK)
            rc = cli_fail("download", NULL);
        else
            printf("%s\n", dir);
        ptm_free(dir);
    }
    for (size_t i = 0; i < nfiles && !rc; i++) {
        char *path = NULL;
        if (cli_record(ptm_hub_download(NULL, repo, files[i], &h, &path)) != PTM_OK)
            rc = cli_fail("download", NULL);
        else
            printf("%s\n", path);
        ptm_free(path);
    }
    free(files);
    return rc;
}
