/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_push.c - `ptm push MODEL REPO_ID [...]`: push_to_hub. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ptm push MODEL REPO_ID [--private] [--commit-message M]\n"
    "                [--commit-description D] [--revision R] [--create-pr]\n"
    "                [--max-shard-size S] [--format safetensors|pytorch]\n"
    "                [--tag T]... [--token T] [--endpoint URL] [load options]\n\n"
    "Load MODEL and upload it to the Hub repository REPO_ID (\"name\" or\n"
    "\"org/name\") the way transformers' push_to_hub does: create the repository\n"
    "(an existing one is fine), save the model into a temporary folder, add a\n"
    "model card (README.md; tags are merged into an existing card's metadata),\n"
    "upload the large files through Git LFS and make one commit.  Prints the\n"
    "commit URL (or the pull request URL with --create-pr).\n\n"
    "  --private              create the repository private\n"
    "  --commit-message M     commit summary (default \"Upload model\")\n"
    "  --commit-description D commit description\n"
    "  --revision R           branch to commit to (created when missing;\n"
    "                         default main)\n"
    "  --create-pr            open a pull request instead of committing\n"
    "  --max-shard-size S     shard weights larger than S (5GB, 200MB, 10GiB,\n"
    "                         1KB or a byte count; default 5GB)\n"
    "  --format F             safetensors (default, model.safetensors) or\n"
    "                         pytorch (pytorch_model.bin; safe_serialization=False)\n"
    "  --tag T                add T to the model card's tags (repeatable)\n"
    "  --token T              access token (default: HF_TOKEN, then the token\n"
    "                         file under HF_HOME); never printed\n"
    "  --endpoint URL         Hub endpoint (default: HF_ENDPOINT, then\n"
    "                         https://huggingface.co)\n"
    "  -h, --help             show this help\n\n"
    "Loading MODEL:\n"
    "  --dtype D       load the parameters as D: auto (default), f32, f16, bf16\n"
    "  --class NAME    build this model class instead of config.json's\n"
    "  --from-tf       load tf_model.h5 (transformers' from_tf=True)\n"
    "  --from-flax     load flax_model.msgpack (transformers' from_flax=True)\n"
    "MODEL may also be a Hub repo id, downloaded into the Hugging Face cache\n"
    "from its main branch with the same --token and --endpoint (--revision\n"
    "names the push's branch), and --cache-dir, --proxy, --subfolder,\n"
    "--force-download, --local-files-only, --no-progress (see ptm download).\n\n"
    "LFS uploads show a progress bar on stderr when it is a terminal (not\n"
    "with --no-progress or HF_HUB_DISABLE_PROGRESS_BARS=1).\n";

int cmd_push(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0, rc = 0;
    const char **tags = calloc((size_t)argc + 1, sizeof *tags);
    size_t ntags = 0;
    ptm_push_options po;
    ptm_push_options_init(&po);
    ptm_load_options o;
    cli_load_options_init(&o);
    if (!tags) {
        fprintf(stderr, "ptm push: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc && !rc; i++) {
        int has = i + 1 < argc;
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            free(tags);
            return 0;
        } else if (!strcmp(a, "--private")) {
            po.is_private = 1;
        } else if (!strcmp(a, "--create-pr")) {
            po.create_pr = 1;
        } else if (!strcmp(a, "--commit-message") && has) {
            po.commit_message = argv[++i];
        } else if (!strcmp(a, "--commit-description") && has) {
            po.commit_description = argv[++i];
        } else if (!strcmp(a, "--revision") && has) {
            po.revision = argv[++i];
        } else if (!strcmp(a, "--token") && has) {
            po.token = argv[++i];
        } else if (!strcmp(a, "--endpoint") && has) {
            po.endpoint = argv[++i];
        } else if (!strcmp(a, "--tag") && has) {
            tags[ntags++] = argv[++i];
        } else if (!strcmp(a, "--max-shard-size") && has) {
            if (ptm_parse_file_size(argv[++i], &po.max_shard_size) != PTM_OK)
                rc = (cli_fail("push", NULL), 2);
        } else if (!strcmp(a, "--format") && has) {
            const char *f = argv[++i];
            if (!strcmp(f, "safetensors"))
                po.safe_serialization = 1;
            else if (!strcmp(f, "pytorch"))
                po.safe_serialization = 0;
            else {
                fprintf(stderr, "ptm push: --format must be safetensors or pytorch, not \"%s\"\n", f);
                rc = 2;
            }
        } else if ((rc = cli_load_option("push", argc, argv, &i, &o)) == 1) {
            rc = 0;
        } else if (rc) {
            break;
        } else if (a[0] == '-' || npos == 2) {
            fprintf(stderr, "ptm push: unexpected argument \"%s\" (see ptm push --help)\n", a);
            rc = 2;
        } else {
            pos[npos++] = a;
        }
    }
    if (!rc && npos != 2) {
        fprintf(stderr, "ptm push: need MODEL and REPO_ID (see ptm push --help)\n");
        rc = 2;
    }
    po.tags = ntags ? tags : NULL;
    ptm_context *ctx = NULL;
    ptm_model *m = NULL;
    char *url = NULL;
    /* the source repo (when MODEL is a repo id) is read with the same token
     * and endpoint as the push */
    ptm_hub_options hub;
    if (o.hub)
        hub = *o.hub;
    else
        cli_hub_options_init(&hub);
    if (po.token)
        hub.token = po.token;
    if (po.endpoint)
        hub.endpoint = po.endpoint;
    o.hub = &hub;
    po.progress = hub.progress; /* the bar of ptm download (off with --no-progress) */
    po.progress_user = hub.progress_user;
    if (!rc && (rc = cli_context("push", &ctx)) == 0 && cli_from_pretrained(ctx, pos[0], &o, &m) != PTM_OK)
        rc = cli_fail("push", NULL);
    if (!rc && cli_record(ptm_model_push_to_hub(m, pos[1], &po, &url)) != PTM_OK)
        rc = cli_fail("push", NULL);
    if (!rc)
        printf("%s\n", url);
    ptm_free(url);
    ptm_model_free(m);
    ptm_context_free(ctx);
    free(tags);
    return rc;
}
