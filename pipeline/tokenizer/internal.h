/* internal.h — private declarations shared by the pipeline/tokenizer_*.c files.
 *
 * The tokenizer mirrors the stages of Hugging Face `tokenizers` (TokenizerImpl::encode):
 *   1. added tokens with normalized=false are split off the raw text (leftmost-longest);
 *   2. every remaining piece is normalized, then added tokens with normalized=true are split
 *      off the normalized piece;
 *   3. the pre-tokenizer chain turns each remaining piece into words;
 *   4. the BPE model turns each word into ids;
 *   5. the post-processor template adds special ids around the sequence.
 * Nothing here is visible outside pipeline/tokenizer_*.c. */
#ifndef MOEPROBE_TOKENIZER_INTERNAL_H
#define MOEPROBE_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/util/error.h"
#include "pipeline/tokenizer/tokenizer.h"

/* Ids above this are refused at load: id_to_token is a dense array indexed by id. */
#define TOK_MAX_ID (1 << 24)

/* ---- hash maps (maps.c) ------------------------------------------------------- */

/* String -> int32 map; keys are copied into one pool. Open addressing, power-of-two table. */
typedef struct tok_strmap {
    char *pool; /* all keys back to back, NUL after each */
    size_t pool_len, pool_cap;
    uint32_t *key_off; /* [n] offset of key i in pool */
    uint32_t *key_len; /* [n] */
    int32_t *val;      /* [n] */
    uint32_t n, cap;   /* entries used / allocated */
    uint32_t *slots;   /* [mask+1] entry index + 1, 0 = empty */
    uint32_t mask;
} tok_strmap;

void tok_strmap_init(tok_strmap *m);
void tok_strmap_free(tok_strmap *m);
/* Pre-sizes for n keys of pool_bytes in all (NULs included). Returns -1 on out of memory. */
int tok_strmap_reserve(tok_strmap *m, uint32_t n, size_t pool_bytes);
/* Inserts key -> val. Returns 0 if new, 1 if the key existed (then *old = its value and the
 * value is replaced by val), -1 on out of memory. */
int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val, int32_t *old);
/* Value of key, or -1 if absent. */
int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len);
/* Key of entry i (NUL-terminated, stable once the map is no longer grown). */
static inline const char *tok_strmap_key(const tok_strmap *m, uint32_t i)
{
    return m->pool + m->key_off[i];
}

/* (id, id) -> (rank, new id) map for the BPE merges. */
typedef struct tok_pairmap {
    uint64_t *keys;  /* [mask+1], TOK_PAIR_EMPTY = empty */
    int32_t *rank;   /* [mask+1] */
    int32_t *new_id; /* [mask+1] */
    uint32_t n, mask;
} tok_pairmap;
#define TOK_PAIR_EMPTY UINT64_MAX

void tok_pairmap_free(tok_pairmap *m);
/* Sizes the table for n pairs. Returns -1 on out of memory. */
int tok_pairmap_reserve(tok_pairmap *m, uint32_t n);
/* Inserts or replaces (later merges of the same pair win, as in HF's HashMap collect). */
void tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t new_id);
/* Returns 1 and fills rank/new_id if the pair merges, else 0. */
int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *new_id);

/* ---- components -------------------------------------------------------------------------- */

typedef enum { TOK_NORM_NFC, TOK_NORM_PREPEND, TOK_NORM_REPLACE } tok_norm_kind;

typedef struct tok_normalizer {
    tok_norm_kind kind;
    char *str; /* Prepend: prepend; Replace: content */
    size_t str_len;
    char *pattern; /* Replace: literal pattern (when re == NULL) */
    size_t pattern_len;
    pcre2_code *re; /* Replace with a Regex pattern */
} tok_normalizer;

typedef enum { TOK_PRE_SPLIT, TOK_PRE_BYTELEVEL, TOK_PRE_METASPACE } tok_pre_kind;

typedef enum {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS
} tok_split_behavior;

typedef enum { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER } tok_prepend_scheme;

typedef struct tok_pretok {
    tok_pre_kind kind;
    /* Split */
    pcre2_code *re; /* compiled pattern (literal patterns with PCRE2_LITERAL) */
    tok_split_behavior behavior;
    int invert;
    /* ByteLevel */
    int add_prefix_space;
    int use_regex; /* uses the tokenizer's shared GPT-2 regex */
    /* Metaspace */
    char repl[5]; /* replacement char, UTF-8, NUL-terminated */
    size_t repl_len;
    tok_prepend_scheme prepend;
    int split;
} tok_pretok;

typedef struct tok_added {
    char *content; /* as in tokenizer.json */
    size_t len;
    char *norm; /* content after the normalizer (normalized=true only) */
    size_t norm_len;
    int32_t id;
    uint8_t special, normalized, lstrip, rstrip, single_word;
} tok_added;

/* Byte trie over added-token contents for leftmost-longest matching. */
typedef struct tok_trie_node {
    int32_t child;   /* first child, -1 none */
    int32_t sibling; /* next sibling, -1 none */
    int32_t term;    /* index into tokenizer.added, -1 if no token ends here */
    uint8_t byte;
} tok_trie_node;

typedef struct tok_trie {
    tok_trie_node *nodes; /* node 0 is the root */
    int32_t n, cap;
    int32_t root_child[256]; /* direct children of the root by first byte */
    int empty;               /* no pattern at all */
} tok_trie;

typedef enum {
    TOK_DEC_BYTELEVEL,
    TOK_DEC_METASPACE,
    TOK_DEC_REPLACE,
    TOK_DEC_BYTEFALLBACK,
    TOK_DEC_FUSE,
    TOK_DEC_STRIP
} tok_dec_kind;

typedef struct tok_decoder {
    tok_dec_kind kind;
    char *a, *b; /* Replace: pattern, content; Metaspace: replacement */
    size_t a_len, b_len;
    int start, stop;   /* Strip */
    int prepend_never; /* Metaspace */
} tok_decoder;

/* One piece of TemplateProcessing's "single" template: $A or a special token's ids. */
typedef struct tok_tpl_item {
    int is_sequence;
    int32_t *ids;
    int n_ids;
} tok_tpl_item;

struct tokenizer {
    char *path; /* for messages */

    /* model BPE */
    tok_strmap vocab; /* token -> id (model vocab only) */
    tok_pairmap merges;
    int32_t unk_id;  /* -1: no unk_token */
    char *unk_token; /* name, for the encode-time error when absent from vocab */
    int byte_fallback, fuse_unk, ignore_merges;
    char *cont_prefix;             /* continuing_subword_prefix, NULL or non-empty */
    char *eow_suffix;              /* end_of_word_suffix, NULL or non-empty */
    int32_t byte_fallback_id[256]; /* id of "<0xNN>", -1 if absent */

    /* id -> token string (added tokens override the model vocab, as HF id_to_token) */
    const char **id_tok; /* [n_ids], NULL = unused id; strings owned elsewhere */
    int32_t n_ids;

    tok_added *added; /* [n_added] */
    int n_added;
    tok_trie trie_raw;  /* normalized=false tokens, matched on raw text */
    tok_trie trie_norm; /* normalized=true tokens, matched on normalized text */

    tok_normalizer *norm; /* [n_norm], applied in order */
    int n_norm;
    tok_pretok *pre; /* [n_pre], applied in order */
    int n_pre;
    pcre2_code *gpt2_re; /* ByteLevel's built-in regex, compiled once if needed */
    pcre2_code *word_re; /* Rust regex \w as one char class (single_word tokens) */

    int has_tpl;       /* a TemplateProcessing post-processor */
    tok_tpl_item *tpl; /* [n_tpl] its single-sequence template */
    int n_tpl;

    tok_decoder *dec; /* [n_dec], applied in order when dec_kind is CHAIN */
    int n_dec;
    enum {
        TOK_DECODE_CHAIN,      /* the decoders above */
        TOK_DECODE_JOIN_SPACE, /* decoder null: HF joins token strings with " " */
        TOK_DECODE_CONCAT      /* a decoder we do not support: plain concatenation */
    } dec_kind;
};

/* ---- shared helpers ---------------------------------------------------------------------- */

/* GPT-2 byte -> unicode char map: UTF-8 of the char for byte b (1 or 2 bytes). */
extern const char *const tok_byte_char[256];
/* Inverse: code point -> byte, -1 if the code point is not one of the 256 chars. */
int tok_char_byte(uint32_t cp);

/* Decodes one UTF-8 char at s[0..len) (input already validated). Returns its length. */
size_t tok_utf8_next(const char *s, size_t len, uint32_t *cp);
/* Appends the UTF-8 encoding of cp to out (>= 4 bytes free). Returns the length. */
size_t tok_utf8_put(char *out, uint32_t cp);
/* Returns the byte offset of the first invalid UTF-8 sequence, or len if valid. */
size_t tok_utf8_check(const char *s, size_t len);
/* Rust char::is_whitespace (Unicode White_Space) and Rust regex `\w` (through t->word_re,
 * compiled at load when some added token is single_word). */
int tok_is_white_space(uint32_t cp);
int tok_is_word_char(const tokenizer *t, uint32_t cp);

/* Growable byte buffer. */
typedef struct tok_buf {
    char *p;
    size_t len, cap;
} tok_buf;
int tok_buf_reserve(tok_buf *b, size_t extra);
int tok_buf_add(tok_buf *b, const char *s, size_t len);

/* A list of pieces of text inside one buffer; id >= 0 marks an added token (no text work). */
typedef struct tok_piece {
    size_t off, len;
    int32_t id;
    uint8_t at_origin; /* starts at original offset 0 (Metaspace prepend "first") */
} tok_piece;

typedef struct tok_pieces {
    tok_buf text;
    tok_piece *v;
    size_t n, cap;
} tok_pieces;
void tok_pieces_clear(tok_pieces *p);
void tok_pieces_free(tok_pieces *p);
int tok_pieces_push(tok_pieces *p, const char *s, size_t len, int32_t id, int at_origin);

/* Compiles an Oniguruma-style pattern from tokenizer.json with PCRE2 (UTF, UCP), JIT if
 * available. literal: match the pattern as a plain string. NULL + err on failure. */
pcre2_code *tok_regex_compile(const char *pat, size_t len, int literal, const char *where,
                              mp_err *err);

/* Regex matches over s[0..len) as HF's Pattern::find_matches: a list of (start, end, is_match)
 * covering the whole string, using onig's find_iter rules for empty matches. */
typedef struct tok_match {
    size_t start, end;
    int is_match;
} tok_match;
typedef struct tok_matches {
    tok_match *v;
    size_t n, cap;
} tok_matches;
int tok_regex_find(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t len,
                   tok_matches *out, mp_err *err);

/* ---- stages ------------------------------------------------------------------------------ */

/* Runs the normalizer chain on in[0..len) into out (cleared first); in must not point into
 * out or sc->tmp. */
typedef struct tok_scratch tok_scratch;
int tok_normalize(const tokenizer *t, const char *in, size_t len, tok_buf *out, tok_scratch *sc,
                  mp_err *err);

/* Trie over added tokens. which: 0 raw (normalized=false), 1 normalized (normalized=true). */
int tok_trie_build(tokenizer *t, int which, mp_err *err);
void tok_trie_free(tok_trie *tr);
/* Splits s[0..len) by the trie's tokens with HF's lstrip/rstrip/single_word rules, appending
 * pieces (text pieces with id -1, tokens with their id) to out. at_origin applies to a first
 * piece starting at offset 0. */
int tok_added_split(const tokenizer *t, const tok_trie *tr, const char *s, size_t len,
                    int at_origin, tok_pieces *out);

/* Pre-tokenizer chain on s[0..len); the words are appended to out. s must not point into
 * sc->pa or sc->pb. */
int tok_pretokenize(const tokenizer *t, const char *s, size_t len, int at_origin, tok_scratch *sc,
                    tok_pieces *out, mp_err *err);

/* BPE of one word; appends ids. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;
int tok_ids_push(tok_ids *ids, int32_t id);
int tok_bpe_word(const tokenizer *t, const char *w, size_t len, tok_scratch *sc, tok_ids *out,
                 mp_err *err);

/* Per-call working memory (the tokenizer itself is immutable and shared between threads). */
typedef struct tok_bpe_sym {
    int32_t c, prev, next;
    uint32_t len;
} tok_bpe_sym;
typedef struct tok_bpe_merge {
    int32_t rank, pos, new_id;
} tok_bpe_merge;

struct tok_scratch {
    pcre2_match_data *md;
    tok_matches matches;
    tok_pieces pa, pb; /* pre-tokenizer ping-pong */
    tok_buf tmp;
    tok_bpe_sym *sym;
    size_t sym_cap;
    tok_bpe_merge *heap;
    size_t heap_n, heap_cap;
};
void tok_scratch_free(tok_scratch *sc);
/* The scratch's match data, created on first use (NULL + err on out of memory). */
pcre2_match_data *tok_scratch_md(tok_scratch *sc, mp_err *err);

/* Loading of the parts of tokenizer.json (tokenizer_load*.c). */
int tok_load_model(tokenizer *t, json_t *model, mp_err *err);
int tok_load_added(tokenizer *t, json_t *arr, mp_err *err);
int tok_load_normalizer(tokenizer *t, json_t *j, mp_err *err);
int tok_load_pretokenizer(tokenizer *t, json_t *j, mp_err *err);
int tok_load_post_processor(tokenizer *t, json_t *j, mp_err *err);
int tok_load_decoder(tokenizer *t, json_t *j, mp_err *err);

#endif
