/* routing.c — see routing.h. Selection by repeated scans (k <= 8 in every supported model)
 * needs no scratch array, so any number of experts is fine. */
#include "pipeline/forward/routing.h"

#include <math.h>

/* 1 if expert a comes before expert b in routing order. */
static int before(const float *p, int a, int b)
{
    if (isnan(p[b])) return !isnan(p[a]) || a < b;
    if (isnan(p[a])) return 0;
    return p[a] > p[b] || (p[a] == p[b] && a < b);
}

void routing_topk(const float *p, int E, int k, int *idx)
{
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int x = 0; x < E; x++)
            if ((j == 0 || before(p, idx[j - 1], x)) && (best < 0 || before(p, x, best))) best = x;
        idx[j] = best;
    }
}

float routing_gap(const float *p, int E, int k, int adjacent)
{
    if (k >= E || k <= 0) return INFINITY;
    float gap = INFINITY, prev = 0.0f;
    int last = -1;
    /* the k+1 most probable, in routing order, one scan each (as routing_topk) */
    for (int j = 0; j <= k; j++) {
        int best = -1;
        for (int x = 0; x < E; x++)
            if ((j == 0 || before(p, last, x)) && (best < 0 || before(p, x, best))) best = x;
        if (best < 0) break;
        const float v = p[best];
        if (j > 0 && (adjacent || j == k)) {
            float g = isnan(prev) || isnan(v) ? 0.0f : prev - v;
            if (isnan(g)) g = 0.0f; /* -inf - -inf: two blocked experts tie */
            if (g < gap) gap = g;
        }
        prev = v;
        last = best;
    }
    return gap;
}

void routing_force(int *idx, int k, int e)
{
    int present = 0;
    for (int j = 0; j < k; j++) present |= idx[j] == e;
    if (!present && k > 0) idx[k - 1] = e;
}

void routing_weights(const float *p, const int *idx, int k, int renormalise, float *w)
{
    double sum = 0.0;
    for (int j = 0; j < k; j++)
        if (idx[j] >= 0) sum += p[idx[j]];
    for (int j = 0; j < k; j++)
        w[j] = idx[j] < 0 ? 0.0f : renormalise ? (float)(p[idx[j]] / sum) : p[idx[j]];
}
