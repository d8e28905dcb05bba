/* SPDX-License-Identifier: Apache-2.0 */
/* tokenizer.c - ByT5Tokenizer (byte-level) for the `ptm` command. */
#include "tokenizer.h"

#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BYT5_OFFSET 3 /* <pad>, </s>, <unk> come first */

struct cli_tokenizer {
    int kind; /* 1 = ByT5 */
};

static char *folder_of(const char *model)
{
    struct stat st;
    if (stat(model, &st) == 0 && S_ISDIR(st.st_mode))
        return strdup(model);
    const char *slash = strrchr(model, '/');
    if (!slash)
        return strdup(".");
    if (slash == model)
        return strdup("/");
    return strndup(model, (size_t)(slash - model));
}

void cli_tokenizer_open(const char *model, cli_tokenizer **out, const char **why)
{
    *out = NULL;
    *why = "no tokenizer_config.json in the model folder";
    char *dir = folder_of(model);
    if (!dir) {
        *why = "out of memory";
        return;
    }
    size_t n = strlen(dir) + sizeof "/tokenizer_config.json";
    char *path = malloc(n);
    if (!path) {
        free(dir);
        *why = "out of memory";
        return;
    }
    snprintf(path, n, "%s/tokenizer_config.json", dir);
    free(dir);
    struct stat st;
    ptm_config *cfg = NULL;
    if (stat(path, &st) != 0) {
        free(path);
        return;
    }
    if (ptm_config_load(path, &cfg) != PTM_OK) {
        *why = "tokenizer_config.json cannot be read";
        ptm_clear_error();
        free(path);
        return;
    }
    free(path);
    const char *cls = ptm_config_string(cfg, "tokenizer_class", NULL);
    if (!cls)
        *why = "tokenizer_config.json names no tokenizer_class";
    else if (strcmp(cls, "ByT5Tokenizer") != 0)
        *why = "its tokenizer_class is not supported (only ByT5Tokenizer is)";
    else if ((*out = calloc(1, sizeof **out)) != NULL)
        (*out)->kind = 1;
    else
        *why = "out of memory";
    ptm_config_free(cfg);
}

void cli_tokenizer_free(cli_tokenizer *tok) { free(tok); }

const char *cli_tokenizer_name(const cli_tokenizer *tok) { return tok ? "ByT5Tokenizer" : "none"; }

int cli_tokenizer_encode(const cli_tokenizer *tok, const char *text, int64_t **ids, size_t *n)
{
    (void)tok;
    size_t len = strlen(text);
    *ids = malloc((len ? len : 1) * sizeof **ids);
    if (!*ids)
        return -1;
    for (size_t i = 0; i < len; i++)
        (*ids)[i] = (int64_t)(unsigned char)text[i] + BYT5_OFFSET;
    *n = len;
    return 0;
}

size_t cli_tokenizer_bytes(const cli_tokenizer *tok, int64_t id, unsigned char *buf, size_t cap)
{
    (void)tok;
    if (id < BYT5_OFFSET || id >= BYT5_OFFSET + 256 || cap < 1)
        return 0;
    buf[0] = (unsigned char)(id - BYT5_OFFSET);
    return 1;
}

const char *cli_tokenizer_display(const cli_tokenizer *tok, int64_t id, char *buf, size_t cap)
{
    (void)tok;
    static const char *const special[BYT5_OFFSET] = {"<pad>", "</s>", "<unk>"};
    if (id >= 0 && id < BYT5_OFFSET) {
        snprintf(buf, cap, "%s", special[id]);
    } else if (id >= BYT5_OFFSET + 256) {
        snprintf(buf, cap, "<extra_id_%lld>", (long long)(id - BYT5_OFFSET - 256));
    } else if (id < 0) {
        snprintf(buf, cap, "?");
    } else {
        int b = (int)(id - BYT5_OFFSET);
        if (b == '\n')
            snprintf(buf, cap, "\\n");
        else if (b == '\t')
            snprintf(buf, cap, "\\t");
        else if (b == '\\')
            snprintf(buf, cap, "\\\\");
        else if (b >= 0x20 && b < 0x7f)
            snprintf(buf, cap, "%c", b);
        else
            snprintf(buf, cap, "\\x%02x", b);
    }
    return buf;
}
