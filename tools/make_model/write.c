/* write.c — generating random weights and writing safetensors shards durably.
 *
 * Values are counter-based (splitmix64 of key + index), so any element can be produced
 * independently: a generator thread fills one buffer while a writer thread writes the other,
 * and a fused tensor is just its per-expert streams back to back. Written pages are pushed to
 * disk every few tens of MB and dropped from the page cache, so writing 90 GB neither holds
 * memory nor floods the cache. */
#include "tools/make_model/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/util/atomic_file.h"

#define CHUNK_ELEMS (1 << 20)     /* elements generated per buffer */
#define FLUSH_BYTES (64ull << 20) /* write-back window */

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t stream_key(uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ mix64(seed + 0x9e3779b97f4a7c15ull);
    for (; *name; name++) h = (h ^ (unsigned char)*name) * 1099511628211ull;
    return mix64(h);
}

static inline uint32_t lowbias32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* AVX2/F16C as the release build enables; the attribute keeps other builds compiling. Other
 * targets (aarch64) run the scalar loops alone, which compute the same values. */
#if defined(__x86_64__)
#include <immintrin.h>
#define MKM_SIMD __attribute__((target("avx2,f16c")))

MKM_SIMD static inline __m256i lowbias32_x8(__m256i x)
{
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x7feb352d));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0x846ca68bu));
    return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
}
#else
#define MKM_SIMD
#endif

/* The inner loop in 32-bit lanes (AVX2 has no 64-bit multiply), eight elements at a time with
 * a scalar tail computing the same values: element c0+j takes two 32-bit hashes, i.e. four
 * 16-bit uniforms. c0 + n <= 2^31. */
MKM_SIMD static void gen_run(uint32_t key, uint32_t c0, int64_t n, float scale, float *out)
{
    int64_t j = 0;
#if defined(__x86_64__)
    const __m256i vkey = _mm256_set1_epi32((int)key), one = _mm256_set1_epi32(1);
    const __m256i lo16 = _mm256_set1_epi32(0xffff), bias = _mm256_set1_epi32(131070);
    const __m256i lanes = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256 vscale = _mm256_set1_ps(scale);
    for (; j + 8 <= n; j += 8) {
        __m256i c = _mm256_add_epi32(_mm256_set1_epi32((int)((c0 + (uint32_t)j) * 2u)), lanes);
        __m256i a = lowbias32_x8(_mm256_xor_si256(vkey, lowbias32_x8(c)));
        __m256i b = lowbias32_x8(_mm256_xor_si256(vkey, lowbias32_x8(_mm256_add_epi32(c, one))));
        __m256i sum =
            _mm256_add_epi32(_mm256_add_epi32(_mm256_and_si256(a, lo16), _mm256_srli_epi32(a, 16)),
                             _mm256_add_epi32(_mm256_and_si256(b, lo16), _mm256_srli_epi32(b, 16)));
        sum = _mm256_sub_epi32(sum, bias);
        _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_cvtepi32_ps(sum), vscale));
    }
#endif
    for (; j < n; j++) {
        uint32_t c = (c0 + (uint32_t)j) * 2u;
        uint32_t a = lowbias32(key ^ lowbias32(c)), b = lowbias32(key ^ lowbias32(c + 1u));
        int32_t s = (int32_t)(a & 0xffff) + (int32_t)(a >> 16) + (int32_t)(b & 0xffff) +
                    (int32_t)(b >> 16) - 131070;
        out[j] = (float)s * scale;
    }
}

/* out[j] = std * N~(0,1) for elements i0 .. i0+n of the stream `key`: the centred sum of four
 * 16-bit uniforms (Irwin-Hall, variance 4 (2^32-1)/12, so |x| < 3.47 std). Streams longer than
 * 2^31 elements switch to a fresh 32-bit key every 2^31 elements. */
MKM_SIMD static void gen_normal(uint64_t key, int64_t i0, int64_t n, float std, float *out)
{
    const float scale = std * (float)(1.7320508075688772 / 65536.0);
    while (n > 0) {
        uint64_t hi = (uint64_t)i0 >> 31;
        int64_t run = (int64_t)((hi + 1) << 31) - i0;
        if (run > n) run = n;
        uint32_t k = (uint32_t)mix64(key ^ (hi * 0x9e3779b97f4a7c15ull));
        gen_run(k, (uint32_t)((uint64_t)i0 & 0x7fffffffu), run, scale, out);
        out += run;
        i0 += run;
        n -= run;
    }
}

/* float32 -> stored dtype, vectorised; the values are finite, so no NaN care is needed. */
MKM_SIMD static void to_dtype(mp_dtype t, const float *src, void *dst, size_t n)
{
    if (t == MP_BF16) {
        uint16_t *d = dst;
        size_t i = 0;
#if defined(__x86_64__)
        const __m256i r = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
        for (; i + 16 <= n; i += 16) {
            __m256i u0 = _mm256_castps_si256(_mm256_loadu_ps(src + i));
            __m256i u1 = _mm256_castps_si256(_mm256_loadu_ps(src + i + 8));
            u0 = _mm256_add_epi32(
                u0, _mm256_add_epi32(r, _mm256_and_si256(_mm256_srli_epi32(u0, 16), one)));
            u1 = _mm256_add_epi32(
                u1, _mm256_add_epi32(r, _mm256_and_si256(_mm256_srli_epi32(u1, 16), one)));
            /* packus works within 128-bit halves: fix the order with a permute */
            __m256i pk = _mm256_packus_epi32(_mm256_srli_epi32(u0, 16), _mm256_srli_epi32(u1, 16));
            _mm256_storeu_si256((__m256i *)(d + i), _mm256_permute4x64_epi64(pk, 0xd8));
        }
#endif
        for (; i < n; i++) {
            uint32_t u;
            memcpy(&u, &src[i], 4);
            u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
            d[i] = (uint16_t)(u >> 16);
        }
    } else if (t == MP_F16) {
        uint16_t *d = dst;
        size_t i = 0;
#if defined(__x86_64__)
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(d + i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
        for (; i < n; i++) d[i] = f32_to_f16(src[i]);
    } else {
        memcpy(dst, src, n * 4);
    }
}

/* ---- a double-buffered writer thread ------------------------------------------------------- */

typedef struct wbuf {
    unsigned char *data;
    size_t len;
} wbuf;

typedef struct writer {
    int fd;
    const char *path;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wbuf buf[2];
    int full[2]; /* buffer handed to the writer */
    int quit;
    int failed;
    int err_no;
    uint64_t off;    /* bytes written so far */
    uint64_t synced; /* bytes pushed to disk and dropped from the cache */
} writer;

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Starts write-back of the newest window and waits for (then drops) the one before it. */
static void flush_window(writer *w)
{
    while (w->off - w->synced >= 2 * FLUSH_BYTES) {
        (void)sync_file_range(w->fd, (off_t)(w->synced + FLUSH_BYTES), FLUSH_BYTES,
                              SYNC_FILE_RANGE_WRITE);
        (void)sync_file_range(w->fd, (off_t)w->synced, FLUSH_BYTES,
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                  SYNC_FILE_RANGE_WAIT_AFTER);
        (void)posix_fadvise(w->fd, (off_t)w->synced, FLUSH_BYTES, POSIX_FADV_DONTNEED);
        w->synced += FLUSH_BYTES;
    }
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    int i = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->full[i] && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->full[i]) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        pthread_mutex_unlock(&w->mu);
        int failed = 0;
        if (!w->failed) { /* only this thread writes `failed` */
            if (write_all(w->fd, w->buf[i].data, w->buf[i].len) != 0) {
                failed = 1;
                w->err_no = errno;
            } else {
                w->off += w->buf[i].len;
                flush_window(w);
            }
        }
        pthread_mutex_lock(&w->mu);
        if (failed) w->failed = 1;
        w->full[i] = 0;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        i ^= 1;
    }
}

/* Blocks until buffer i is free to fill; returns 1 if the writer has failed. */
static int wait_free(writer *w, int i)
{
    pthread_mutex_lock(&w->mu);
    while (w->full[i]) pthread_cond_wait(&w->cv, &w->mu);
    int failed = w->failed;
    pthread_mutex_unlock(&w->mu);
    return failed;
}

static void hand_over(writer *w, int i, size_t len)
{
    pthread_mutex_lock(&w->mu);
    w->buf[i].len = len;
    w->full[i] = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void writer_stop(writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
}

/* ---- one shard -------------------------------------------------------------------------------- */

static int cmp_by_name(const void *a, const void *b)
{
    const mkm_tensor *x = *(const mkm_tensor *const *)a, *y = *(const mkm_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* The header JSON of the shard's tensors (sorted by name, consecutive offsets), padded with
 * spaces to a multiple of 8 bytes as safetensors' own writer does. */
static char *shard_header(const mkm_plan *p, mkm_tensor **ts, int n, size_t *len)
{
    json_t *h = json_object();
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(h, "__metadata__", meta);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *e = json_object();
        json_t *shape = json_array();
        for (int d = 0; d < ts[i]->ndim; d++)
            json_array_append_new(shape, json_integer(ts[i]->shape[d]));
        json_object_set_new(e, "dtype", json_string(dtype_name(p->dtype)));
        json_object_set_new(e, "shape", shape);
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + ts[i]->bytes)));
        json_object_set_new(e, "data_offsets", offs);
        json_object_set_new(h, ts[i]->name, e);
        off += ts[i]->bytes;
    }
    char *s = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!s) return NULL;
    size_t n0 = strlen(s), n8 = (n0 + 7) & ~(size_t)7;
    char *out = malloc(8 + n8);
    if (out) {
        for (int i = 0; i < 8; i++) out[i] = (char)((uint64_t)n8 >> (8 * i));
        memcpy(out + 8, s, n0);
        memset(out + 8 + n0, ' ', n8 - n0);
        *len = 8 + n8;
    }
    free(s);
    return out;
}

int mkm_write_shard(const mkm_plan *p, int s, const char *dir, const char *final_name,
                    uint64_t *written, mp_err *err)
{
    int rc = -1, n = 0, started = 0;
    char path[4400];
    af_tmp out = AF_TMP_INIT;
    snprintf(path, sizeof path, "%s/%s", dir, final_name);
    mkm_tensor **ts = malloc((size_t)(p->nt ? p->nt : 1) * sizeof *ts);
    float *f = malloc(CHUNK_ELEMS * sizeof *f);
    writer w = {.fd = -1, .path = path};
    w.buf[0].data = malloc(CHUNK_ELEMS * 4);
    w.buf[1].data = malloc(CHUNK_ELEMS * 4);
    char *hdr = NULL;
    size_t hdr_len = 0;
    if (!ts || !f || !w.buf[0].data || !w.buf[1].data) {
        err_set(err, "%s: out of memory for the write buffers", path);
        goto done;
    }
    for (int i = 0; i < p->nt; i++)
        if (p->t[i].shard == s) ts[n++] = &p->t[i];
    qsort(ts, (size_t)n, sizeof *ts, cmp_by_name);
    if (!(hdr = shard_header(p, ts, n, &hdr_len))) {
        err_set(err, "%s: out of memory for the header", path);
        goto done;
    }
    if (af_tmp_open(&out, path, err) != 0) goto done;
    w.fd = out.fd;
    if (write_all(w.fd, (const unsigned char *)hdr, hdr_len) != 0) {
        err_set(err, "%s: write of the %zu-byte header failed: %s", out.tmp, hdr_len,
                strerror(errno));
        goto done;
    }
    w.off = hdr_len;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    if (pthread_create(&w.th, NULL, writer_main, &w) != 0) {
        err_set(err, "%s: cannot start the writer thread", out.tmp);
        pthread_mutex_destroy(&w.mu);
        pthread_cond_destroy(&w.cv);
        goto done;
    }
    started = 1;
    size_t esz = dtype_size(p->dtype);
    int bi = 0, failed = 0;
    for (int i = 0; i < n && !failed; i++) {
        const mkm_tensor *t = ts[i];
        for (int k = 0; k < t->nparts && !failed; k++) {
            const mkm_part *pt = &p->parts[t->part0 + k];
            uint64_t key = stream_key(p->seed, pt->stream);
            for (int64_t i0 = 0; i0 < pt->numel && !failed; i0 += CHUNK_ELEMS) {
                int64_t m = pt->numel - i0 < CHUNK_ELEMS ? pt->numel - i0 : CHUNK_ELEMS;
                if (t->ones)
                    for (int64_t j = 0; j < m; j++) f[j] = 1.0f;
                else
                    gen_normal(key, i0, m, p->std, f);
                if ((failed = wait_free(&w, bi))) break;
                to_dtype(p->dtype, f, w.buf[bi].data, (size_t)m);
                hand_over(&w, bi, (size_t)m * esz);
                bi ^= 1;
            }
        }
        *written += t->bytes;
    }
    writer_stop(&w);
    started = 0;
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    if (w.failed) {
        err_set(err, "%s: write failed at byte %llu: %s", out.tmp, (unsigned long long)w.off,
                strerror(w.err_no));
        goto done;
    }
    /* written pages are clean only after a sync; then they need not stay in the page cache (a
     * checkpoint is tens of GB). The commit's own fsync finds nothing left to write. */
    if (fsync(w.fd) != 0) {
        err_set(err, "%s: fsync failed: %s", out.tmp, strerror(errno));
        goto done;
    }
    (void)posix_fadvise(w.fd, 0, 0, POSIX_FADV_DONTNEED);
    rc = af_tmp_commit(&out, err);
done:
    if (started) {
        writer_stop(&w);
        pthread_mutex_destroy(&w.mu);
        pthread_cond_destroy(&w.cv);
    }
    af_tmp_discard(&out);
    free(hdr);
    free(ts);
    free(f);
    free(w.buf[0].data);
    free(w.buf[1].data);
    return rc;
}

int mkm_write_file(const char *dir, const char *name, const char *data, size_t len, mp_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return af_write_atomic(path, data, len, err);
}
