/* tokenizer.h — Hugging Face `tokenizers` BPE, from tokenizer.json, id-for-id.
 *
 * Supported pipeline (anything else is a load error naming the component):
 *   added tokens (special or not, normalized true/false, leftmost-longest split first)
 *   normalizer: NFC | Prepend | Replace | Sequence of these | null
 *   pre_tokenizer: Split(Regex, behavior Isolated) | ByteLevel (use_regex true/false) |
 *                  Metaspace | Sequence of these | null
 *   model: BPE (merges as "a b" strings or [a, b] pairs; byte_fallback; fuse_unk; unk_token;
 *          ignore_merges)
 *   post_processor: TemplateProcessing (e.g. BOS) | ByteLevel (no ids added) | null
 * The tokenizer knows nothing but text and tokenizer.json. It is immutable after loading and
 * safe to share between threads. */
#ifndef MOEPROBE_TOKENIZER_H
#define MOEPROBE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/error.h"

typedef struct tokenizer tokenizer;  /* opaque */

/* Loads PATH (a tokenizer.json). On failure *out is NULL and err says why. */
int tok_load(tokenizer **out, const char *path, mp_err *err);
void tok_free(tokenizer *t);

/* Encodes `len` bytes of UTF-8 text. add_special: apply the post-processor template (HF
 * add_special_tokens=True). On success *ids is malloc'd (caller frees) with *n ids. Invalid
 * UTF-8 is an error naming the byte offset. */
int tok_encode(const tokenizer *t, const char *text, size_t len, int add_special,
               int32_t **ids, size_t *n, mp_err *err);

int tok_vocab_size(const tokenizer *t);        /* largest id + 1, added tokens included */
/* The token string of an id (as in the vocab, e.g. "Ġthe"), or NULL if out of range. */
const char *tok_id_to_token(const tokenizer *t, int32_t id);
/* Decodes ids to display text (ByteLevel / Metaspace / byte-fallback decoders); malloc'd. */
char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n);

#endif
