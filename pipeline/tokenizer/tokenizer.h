/* tokenizer.h — Hugging Face `tokenizers` BPE, from tokenizer.json, id-for-id.
 *
 * Supported pipeline (anything else is a load error naming the component):
 *   added tokens (special or not, normalized true/false, lstrip/rstrip/single_word,
 *                 leftmost-longest split first; ids as HF assigns them: the model vocab's id
 *                 if the content is there, else the next id after the vocab)
 *   normalizer: NFC | Prepend | Replace (String or Regex) | Sequence of these | null
 *   pre_tokenizer: Split(String or Regex, any behavior, invert) | ByteLevel (use_regex
 *                  true/false, add_prefix_space) | Metaspace (prepend_scheme, split) |
 *                  Sequence of these | null
 *   model: BPE (merges as "a b" strings or [a, b] pairs; byte_fallback; fuse_unk; unk_token;
 *          ignore_merges; continuing_subword_prefix; end_of_word_suffix; dropout null)
 *   post_processor: TemplateProcessing (single template) | ByteLevel (no ids added) |
 *                   Sequence of these | null
 *   truncation and padding must be null.
 * Regexes run on PCRE2 (UTF + UCP) where HF uses Oniguruma; Unicode tables are those of the
 * installed utf8proc / PCRE2. The tokenizer knows nothing but text and tokenizer.json. It is
 * immutable after loading and safe to share between threads. */
#ifndef MOEPROBE_TOKENIZER_H
#define MOEPROBE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/util/error.h"

typedef struct tokenizer tokenizer; /* opaque */

/* Loads PATH (a tokenizer.json). On failure *out is NULL and err says why. */
int tok_load(tokenizer **out, const char *path, mp_err *err);
/* The same from `len` bytes of tokenizer.json text in memory (not NUL-terminated; the caller
 * keeps it); `path` names the source in messages. */
int tok_load_mem(tokenizer **out, const char *json, size_t len, const char *path, mp_err *err);
void tok_free(tokenizer *t);

/* Encodes `len` bytes of UTF-8 text. add_special: apply the post-processor template (HF
 * add_special_tokens=True). On success *ids is malloc'd (caller frees; non-NULL even when
 * *n == 0) with *n ids. Invalid UTF-8 is an error naming the byte offset; on error *ids is
 * NULL and *n is 0. */
int tok_encode(const tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids,
               size_t *n, mp_err *err);

int tok_vocab_size(const tokenizer *t); /* largest id + 1, added tokens included */
/* Id of a token string (added tokens first, then the model vocab, as HF token_to_id), or -1. */
int32_t tok_token_to_id(const tokenizer *t, const char *token);
/* The token string of an id (as in the vocab, e.g. "Ġthe"), or NULL if out of range. */
const char *tok_id_to_token(const tokenizer *t, int32_t id);
/* Decodes ids to display text with the decoder of tokenizer.json (ByteLevel, Metaspace,
 * Replace, ByteFallback, Fuse, Strip, Sequence; another decoder: token strings concatenated;
 * none: joined with spaces). Special tokens are kept (HF skip_special_tokens=False); unknown
 * ids are skipped. malloc'd, NUL-terminated; NULL only when out of memory. */
char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n);

#endif
