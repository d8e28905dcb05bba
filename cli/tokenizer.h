/* SPDX-License-Identifier: Apache-2.0 */
/* tokenizer.h - the tokenizers the `ptm` command understands.
 *
 * Supported: the byte-level tokenizer transformers calls ByT5Tokenizer,
 * recognised by "tokenizer_class": "ByT5Tokenizer" in the model folder's
 * tokenizer_config.json.  Ids 0 = <pad>, 1 = </s>, 2 = <unk>, byte b = b + 3;
 * ids above 258 are its <extra_id_N> tokens. */
#ifndef PTM_CLI_TOKENIZER_H
#define PTM_CLI_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_tokenizer cli_tokenizer;

/* Look for a supported tokenizer beside MODEL (a folder, or a file whose
 * folder is used).  *out is NULL when there is none, or it is not
 * supported; *why then says why (a static string). */
void cli_tokenizer_open(const char *model, cli_tokenizer **out, const char **why);
void cli_tokenizer_free(cli_tokenizer *tok);
/* The tokenizer's class name ("ByT5Tokenizer"). */
const char *cli_tokenizer_name(const cli_tokenizer *tok);
/* Ids of `text` without special tokens (no </s> appended), malloc'd.
 * Returns 0, or -1 when out of memory. */
int cli_tokenizer_encode(const cli_tokenizer *tok, const char *text, int64_t **ids, size_t *n);
/* The raw bytes of one token as decode(skip_special_tokens=True) gives
 * them: 0 bytes for special ids, else 1.  Returns the count written. */
size_t cli_tokenizer_bytes(const cli_tokenizer *tok, int64_t id, unsigned char *buf, size_t cap);
/* A printable form of one token: "<pad>", "</s>", "<unk>", "<extra_id_N>",
 * a printable ASCII character as itself, other bytes escaped ("\n",
 * "\xe2").  Returns buf. */
const char *cli_tokenizer_display(const cli_tokenizer *tok, int64_t id, char *buf, size_t cap);

#endif
