/* SPDX-License-Identifier: Apache-2.0 */
/* test_model_card.c - the README.md writer of push_to_hub against cards
 * written out by hand: a new card's front matter as huggingface_hub dumps
 * ModelCardData (library_name, then tags as a block list), and tags merged
 * into existing cards with their text and line endings untouched. */
#include "check.h"
#include "hub_push.h"

static int card_is(const char *existing, const char *const *tags, const char *want, int want_changed)
{
    char *got = NULL;
    size_t n = 0;
    int changed = -1;
    ptm_status s = ptm__model_card(existing, existing ? strlen(existing) : 0, "org/tiny-gpt2", tags, &got, &n,
                                   &changed);
    int ok = s == PTM_OK && got && n == strlen(want) && !memcmp(got, want, n) && changed == want_changed;
    if (!ok)
        fprintf(stderr, "status %d %s changed %d\n--- got:\n%s\n--- want:\n%s\n---\n", (int)s, ptm_last_error(), changed,
                got ? got : "(null)", want);
    free(got);
    return ok;
}

#define BODY                                                                                                   \
    "\n# tiny-gpt2\n\nA transformers model (config.json and weights) uploaded with ptm. This card was written " \
    "automatically: add what the model is, how it was trained and what it is for.\n"

TEST(new_card)
{
    const char *const tags[] = {"text-generation", "ptm", "text-generation", NULL};
    CHECK(card_is(NULL, tags,
                  "---\nlibrary_name: transformers\ntags:\n- text-generation\n- ptm\n---\n" BODY, 1));
    CHECK(card_is(NULL, NULL, "---\nlibrary_name: transformers\ntags: []\n---\n" BODY, 1));
    /* strings YAML would read as something else are quoted */
    const char *const odd[] = {"yes", "2024", "a b", "it's", "Off", NULL};
    CHECK(card_is(NULL, odd,
                  "---\nlibrary_name: transformers\ntags:\n- 'yes'\n- '2024'\n- 'a b'\n- 'it''s'\n- 'Off'\n---\n" BODY,
                  1));
}

TEST(merge_block_list)
{
    const char *const tags[] = {"ptm", "nlp", NULL};
    CHECK(card_is("---\nlicense: mit\ntags:\n- nlp\n- gpt2\nlanguage: en\n---\n\n# My model\n\nText.\n", tags,
                  "---\nlicense: mit\ntags:\n- nlp\n- gpt2\n- ptm\nlanguage: en\n---\n\n# My model\n\nText.\n", 1));
    /* indented items keep their indentation; the list ends the block */
    CHECK(card_is("---\ntags:\n  - 'nlp'\n  - \"gpt2\"\n---\nbody", tags,
                  "---\ntags:\n  - 'nlp'\n  - \"gpt2\"\n  - ptm\n---\nbody", 1));
    /* nothing to add: unchanged */
    const char *const have[] = {"gpt2", NULL};
    const char *card = "---\ntags:\n- nlp\n- gpt2 # comment\n---\nx\n";
    CHECK(card_is(card, have, card, 0));
}

TEST(merge_crlf)
{
    const char *const tags[] = {"ptm", NULL};
    CHECK(card_is("---\r\nlicense: mit\r\ntags:\r\n- nlp\r\n---\r\n\r\n# Model\r\n", tags,
                  "---\r\nlicense: mit\r\ntags:\r\n- nlp\r\n- ptm\r\n---\r\n\r\n# Model\r\n", 1));
    CHECK(card_is("---\r\nlicense: mit\r\n---\r\nText\r\n", tags,
                  "---\r\nlicense: mit\r\ntags:\r\n- ptm\r\n---\r\nText\r\n", 1));
}

TEST(merge_other_shapes)
{
    const char *const tags[] = {"ptm", NULL};
    /* no tags key: appended at the end of the metadata */
    CHECK(card_is("---\nlicense: apache-2.0\n---\n# Title\n", tags,
                  "---\nlicense: apache-2.0\ntags:\n- ptm\n---\n# Title\n", 1));
    /* a flow list or a single value becomes a block list */
    CHECK(card_is("---\ntags: [nlp, 'gpt2']\nlicense: mit\n---\n", tags,
                  "---\ntags:\n- nlp\n- gpt2\n- ptm\nlicense: mit\n---\n", 1));
    CHECK(card_is("---\ntags: nlp\n---\n", tags, "---\ntags:\n- nlp\n- ptm\n---\n", 1));
    CHECK(card_is("---\ntags: []\n---\n", tags, "---\ntags:\n- ptm\n---\n", 1));
    /* no front matter: one is added before the untouched text */
    CHECK(card_is("# Just text\n\n---\n", tags, "---\ntags:\n- ptm\n---\n# Just text\n\n---\n", 1));
    CHECK(card_is("# Just text\n", NULL, "# Just text\n", 0));
    /* closing line at the very end; "----" is not a closing line */
    CHECK(card_is("---\nlicense: mit\n----\nmore: 1\n---", tags,
                  "---\nlicense: mit\n----\nmore: 1\ntags:\n- ptm\n---", 1));
    /* leading blank lines before the block are kept */
    CHECK(card_is("\n\n---\nlicense: mit\n---\n", tags, "\n\n---\nlicense: mit\ntags:\n- ptm\n---\n", 1));
    /* an empty file */
    CHECK(card_is("", tags, "---\ntags:\n- ptm\n---\n", 1));
}

int main(void)
{
    RUN(new_card);
    RUN(merge_block_list);
    RUN(merge_crlf);
    RUN(merge_other_shapes);
    return CHECK_DONE();
}
