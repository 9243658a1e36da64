/* Every head's attention output and overview in one pass over its map: what a forward pass with the Maps view's
 * overview computes for each layer, in the common case (weights = softmax(q kᵀ · scaling + mask)).
 *
 * Per head, a tile of R queries at a time:
 *   logits  s = q kᵀ · scaling               (R, K)   K = the keys the tile's queries may reach
 *   weights w = softmax(s) over allowed keys  (R, K)   kept in the tile, never a T x T map
 *   output  o = w v                           (R, d)
 * and, from the same w, each query's entropy and mean distance and each key's weight summed over the queries of
 * each thumbnail row (the key shares and the thumbnails are block sums of these).
 *
 * Plain C with GCC/Clang vector extensions (16 floats a vector); built with -march=native on the machine that runs
 * it (models/engine/overview_kernel.py). */

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define W 16 /* floats per vector */
#define R 16 /* queries per tile: the keys' and values' vectors are loaded once for all of them */
#define RV 8 /* queries per pass of the output product (8 x 2 vectors of sums) */

typedef float vec __attribute__((vector_size(W * sizeof(float))));
typedef int32_t ivec __attribute__((vector_size(W * sizeof(int32_t))));

struct layer_walk {
    const float *query; int64_t query_head, query_row; /* (H, Tq, d), d contiguous: after rotary embeddings */
    const float *key; int64_t key_head, key_row;       /* (H_kv, Tk, d) */
    const float *value; int64_t value_head, value_row; /* (H_kv, Tk, d) */
    int32_t heads, group, tq, tk, d, offset;           /* group: query heads per key head; query i sits at i + offset */
    int32_t threads;                                   /* how many threads share the heads */
    float scaling;
    const uint8_t *allowed; /* (Tq, Tk) 1 where the query may attend the key; NULL: every key up to its reach */
    const int64_t *reach;   /* (Tq,) one past the last key each query may attend; NULL: Tk */
    const int32_t *row_bin; /* (Tq,) the thumbnail row each query falls in (0 for all without thumbnails) */
    int32_t bins;
    float *out; int64_t out_head, out_row; /* (Tq, H, d) outputs, or NULL: the overview alone */
    double *entropy;     /* (H,) Σ over queries of each row's entropy, in nats */
    double *distance;    /* (H,) Σ over queries of Σ_k w·|query − key|, in tokens */
    float *column_sums;  /* (H, bins, Tk) Σ of each key's weights over each thumbnail row's queries, zeroed here */
};

static inline int32_t padded(int32_t n) { return (n + 2 * W - 1) / (2 * W) * (2 * W); }

/* Floats of scratch a thread needs: the keys transposed and the values (one key head), a tile's weights, its
 * queries. */
static int64_t scratch_floats(int32_t tk, int32_t d) {
    return 2 * (int64_t)d * padded(tk) + (int64_t)R * padded(tk) + (int64_t)R * d;
}

static inline vec splat(float x) { return (vec){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
static inline vec load(const float *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vec v) { memcpy(p, &v, sizeof v); }

static inline vec pick(ivec where, vec a, vec b) { /* a where `where`, b elsewhere */
    ivec ai, bi, r;
    memcpy(&ai, &a, sizeof a);
    memcpy(&bi, &b, sizeof b);
    r = (ai & where) | (bi & ~where);
    vec out;
    memcpy(&out, &r, sizeof out);
    return out;
}

static inline float sum_of(vec v) { float s = 0; for (int i = 0; i < W; i++) s += v[i]; return s; }
static inline float max_of(vec v) { float s = v[0]; for (int i = 1; i < W; i++) s = v[i] > s ? v[i] : s; return s; }

/* exp(x) for x <= 0 within ~2 ulp, 0 below -87.3 (past float32's normal range): Cephes' expf, n·ln2 split off and a
 * degree-7 polynomial on the rest. */
static inline vec exp_nonpositive(vec x) {
    ivec tiny = x < splat(-87.3f);
    vec c = pick(tiny, splat(-87.3f), x);
    vec n = __builtin_convertvector(__builtin_convertvector(c * splat(1.44269504f) - splat(0.5f), ivec), vec);
    /* truncating t - 0.5 rounds t <= 0 to the nearest integer: |r| <= ln2 / 2 */
    vec r = c - n * splat(0.693359375f) - n * splat(-2.12194440e-4f);
    vec p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    p = p * r * r + r + splat(1.0f);
    ivec bits = (__builtin_convertvector(n, ivec) + 127) << 23; /* 2^n */
    vec scale;
    memcpy(&scale, &bits, sizeof scale);
    return pick(tiny, splat(0.0f), p * scale);
}

/* One key head's keys transposed (d, Tk') and its values (Tk', d), zero past Tk: the tiles read them as vectors. */
static void load_key_head(const struct layer_walk *w, int32_t kv, int32_t tkp, float *keys_t, float *values) {
    for (int32_t key = 0; key < tkp; key++) {
        if (key >= w->tk) {
            for (int32_t j = 0; j < w->d; j++) keys_t[(int64_t)j * tkp + key] = values[(int64_t)key * w->d + j] = 0.0f;
            continue;
        }
        const float *k = w->key + kv * w->key_head + key * w->key_row;
        const float *v = w->value + kv * w->value_head + key * w->value_row;
        for (int32_t j = 0; j < w->d; j++) {
            keys_t[(int64_t)j * tkp + key] = k[j];
            values[(int64_t)key * w->d + j] = v[j];
        }
    }
}

/* Row `row`'s logits (in place) -> its weights; adds its entropy, distance and column sums. */
static void softmax_row(const struct layer_walk *w, int32_t h, int32_t row, float *s, int32_t chunks,
                        double *entropy, double *distance) {
    vec iota;
    for (int i = 0; i < W; i++) iota[i] = (float)i;
    int32_t limit = w->reach ? (int32_t)w->reach[row] : w->tk;
    if (w->allowed) {
        const uint8_t *a = w->allowed + (int64_t)row * w->tk;
        for (int32_t key = 0; key < limit; key++)
            if (!a[key]) s[key] = -FLT_MAX;
    }
    for (int32_t c = limit / W; c < chunks; c++) /* past the row's reach, or past Tk: the lowest float */
        store(s + c * W, pick(iota + splat((float)(c * W)) >= splat((float)limit), splat(-FLT_MAX), load(s + c * W)));
    vec top = splat(-FLT_MAX);
    for (int32_t c = 0; c < chunks; c++) {
        vec x = load(s + c * W);
        top = pick(x > top, x, top);
    }
    float peak = max_of(top);
    if (peak == -FLT_MAX) { /* a query that may attend nothing: weights 0, nothing to add */
        memset(s, 0, sizeof(float) * chunks * W);
        return;
    }
    vec z = {}, zs = {}, zd = {}, position = splat((float)(row + w->offset));
    for (int32_t c = 0; c < chunks; c++) {
        vec x = load(s + c * W), e = exp_nonpositive(x - splat(peak));
        vec far = position - (iota + splat((float)(c * W)));
        far = pick(far < splat(0.0f), -far, far); /* |query - key| */
        z += e;
        zs += e * x;
        zd += e * far;
        store(s + c * W, e);
    }
    float total = sum_of(z), inverse = 1.0f / total;
    *entropy += (double)(peak + logf(total) - sum_of(zs) * inverse); /* lse − Σ w·s: no logarithm per cell */
    *distance += (double)(sum_of(zd) * inverse);
    float *sums = w->column_sums + ((int64_t)h * w->bins + w->row_bin[row]) * w->tk;
    for (int32_t c = 0; c < chunks; c++) {
        vec weight = load(s + c * W) * splat(inverse);
        store(s + c * W, weight);
        if (c * W + W <= w->tk)
            store(sums + c * W, load(sums + c * W) + weight);
        else
            for (int32_t l = 0; c * W + l < w->tk; l++) sums[c * W + l] += weight[l];
    }
}

/* Heads [first, stop) of the layer; scratch holds scratch_floats(Tk, d). */
static void walk_heads(const struct layer_walk *w, int32_t first, int32_t stop, float *scratch) {
    int32_t tkp = padded(w->tk), d = w->d;
    float *keys_t = scratch, *values = keys_t + (int64_t)d * tkp, *tile = values + (int64_t)tkp * d;
    float *queries = tile + (int64_t)R * tkp; /* (R, d), scaled */
    memset(w->column_sums + (int64_t)first * w->bins * w->tk, 0, sizeof(float) * (stop - first) * w->bins * w->tk);
    int32_t loaded = -1;
    for (int32_t h = first; h < stop; h++) {
        if (h / w->group != loaded) load_key_head(w, loaded = h / w->group, tkp, keys_t, values);
        double entropy = 0, distance = 0;
        for (int32_t r0 = 0; r0 < w->tq; r0 += R) {
            int32_t rows = w->tq - r0 < R ? w->tq - r0 : R, reach = 0;
            for (int32_t i = 0; i < rows; i++) {
                int32_t limit = w->reach ? (int32_t)w->reach[r0 + i] : w->tk;
                reach = limit > reach ? limit : reach;
            }
            int32_t chunks = (reach + W - 1) / W;
            for (int32_t i = 0; i < R; i++) { /* a short last tile repeats its last query */
                const float *q = w->query + h * w->query_head + (int64_t)(r0 + (i < rows ? i : rows - 1)) * w->query_row;
                for (int32_t j = 0; j < d; j++) queries[i * d + j] = q[j] * w->scaling;
            }
            for (int32_t c = 0; c < chunks; c++) { /* logits, R queries x W keys at a time */
                vec sums[R] = {};
                for (int32_t j = 0; j < d; j++) {
                    vec k = load(keys_t + (int64_t)j * tkp + c * W);
                    for (int i = 0; i < R; i++) sums[i] += splat(queries[i * d + j]) * k;
                }
                for (int i = 0; i < R; i++) store(tile + (int64_t)i * tkp + c * W, sums[i]);
            }
            for (int32_t i = 0; i < rows; i++)
                softmax_row(w, h, r0 + i, tile + (int64_t)i * tkp, chunks, &entropy, &distance);
            if (!w->out) continue;
            for (int32_t i0 = 0; i0 < rows; i0 += RV) /* outputs: RV queries x 2 vectors of d at a time */
                for (int32_t j0 = 0; j0 < d; j0 += 2 * W) {
                    vec sums[RV][2] = {};
                    for (int32_t key = 0; key < chunks * W; key++) {
                        vec v0 = load(values + (int64_t)key * d + j0), v1 = load(values + (int64_t)key * d + j0 + W);
                        for (int i = 0; i < RV; i++) {
                            vec weight = splat(tile[(int64_t)(i0 + i) * tkp + key]);
                            sums[i][0] += weight * v0;
                            sums[i][1] += weight * v1;
                        }
                    }
                    for (int32_t i = 0; i < RV && i0 + i < rows; i++) {
                        float *o = w->out + (int64_t)(r0 + i0 + i) * w->out_row + h * w->out_head + j0;
                        store(o, sums[i][0]);
                        store(o + W, sums[i][1]);
                    }
                }
        }
        w->entropy[h] = entropy;
        w->distance[h] = distance;
    }
}

/* Each thread's scratch, kept for its next call (fresh pages each call cost more than a walk) and freed when the
 * thread ends (a Streamlit script's thread, and the OpenMP team it started, end with each run). */
struct held { int64_t floats; float data[]; };
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void make_scratch_key(void) { pthread_key_create(&scratch_key, free); }

/* This thread's scratch of at least `floats`; NULL when out of memory. */
static float *thread_scratch(int64_t floats) {
    pthread_once(&scratch_once, make_scratch_key);
    struct held *held = pthread_getspecific(scratch_key);
    if (!held || held->floats < floats) {
        free(held);
        held = malloc(sizeof(struct held) + sizeof(float) * floats);
        if (held) held->floats = floats;
        pthread_setspecific(scratch_key, held);
    }
    return held ? held->data : NULL;
}

/* Every head of the layer, each thread a contiguous run of heads (so each head's numbers never depend on the thread
 * count). Returns 0, or -1 when a thread's scratch could not be allocated. */
int walk_layer(const struct layer_walk *w) {
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(w->threads) reduction(| : failed)
#endif
    {
        int32_t part = 0, parts = 1;
#ifdef _OPENMP
        part = omp_get_thread_num();
        parts = omp_get_num_threads();
#endif
        int32_t first = w->heads * part / parts, stop = w->heads * (part + 1) / parts;
        float *scratch = thread_scratch(scratch_floats(w->tk, w->d));
        if (!scratch)
            failed = 1;
        else if (first < stop)
            walk_heads(w, first, stop, scratch);
    }
    return failed ? -1 : 0;
}
