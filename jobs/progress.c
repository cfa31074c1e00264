/* progress.c — see progress.h. One mutex guards the counters and stderr; the thread sleeps on a
 * condition variable so progress_stop wakes it at once. */
#include "jobs/progress.h"
#include "pipeline/util/monotonic.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct stage_stat {
    char name[64];
    size_t remaining;
    size_t finished;
    double seconds;
} stage_stat;

struct progress {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int have_thread, stopping;
    int tty, line_shown; /* tty: a progress line is drawn and not yet ended */
    double every_s;
    size_t total, done;
    stage_stat *st;
    size_t n_st;
    double t_start;
    char cur_model[128], cur_unit[256];
    double cur_t0; /* 0: no unit running */
};

const char *progress_fmt_duration(double s, char *buf, size_t len)
{
    if (s < 0 || s != s) {
        snprintf(buf, len, "?");
    } else if (s < 60) {
        snprintf(buf, len, "%.0fs", s);
    } else if (s < 3600) {
        long t = (long)(s + 0.5);
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    } else {
        long t = (long)(s / 60 + 0.5);
        snprintf(buf, len, "%ldh%02ldm", t / 60, t % 60);
    }
    return buf;
}

static stage_stat *stat_of(progress *p, const char *stage)
{
    for (size_t i = 0; i < p->n_st; i++)
        if (!strcmp(p->st[i].name, stage)) return &p->st[i];
    return NULL;
}

/* Seconds left, or -1 when nothing is finished yet. Called with mu held. */
static double eta_locked(const progress *p)
{
    size_t fin = 0;
    double sec = 0, left = 0;
    for (size_t i = 0; i < p->n_st; i++) {
        fin += p->st[i].finished;
        sec += p->st[i].seconds;
    }
    if (fin == 0) return p->done == p->total ? 0 : -1;
    double mean_all = sec / (double)fin;
    for (size_t i = 0; i < p->n_st; i++) {
        const stage_stat *s = &p->st[i];
        double mean = s->finished ? s->seconds / (double)s->finished : mean_all;
        left += mean * (double)s->remaining;
    }
    if (p->cur_t0 > 0) /* the running unit is partly done */
        left -= monotonic_s() - p->cur_t0;
    return left > 0 ? left : 0;
}

/* Ends a redrawn progress line before a plain line. mu held. */
static void clear_line_locked(progress *p)
{
    if (p->tty && p->line_shown) {
        fputs("\r\033[K", stderr);
        p->line_shown = 0;
    }
}

static void *ticker(void *arg)
{
    progress *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double until = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec + p->every_s;
        ts.tv_sec = (time_t)until;
        ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
        int rc = 0;
        while (!p->stopping && rc == 0) rc = pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        if (p->stopping) break;
        char eta[32], run[32], line[600];
        int n = snprintf(line, sizeof line,
                         "moeprobe: progress: %.0f%% done (%zu/%zu units), "
                         "ETA %s",
                         p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, p->done,
                         p->total, progress_fmt_duration(eta_locked(p), eta, sizeof eta));
        if (p->cur_t0 > 0 && n > 0 && (size_t)n < sizeof line)
            snprintf(line + n, sizeof line - (size_t)n, "; running %s %s for %s", p->cur_model,
                     p->cur_unit,
                     progress_fmt_duration(monotonic_s() - p->cur_t0, run, sizeof run));
        if (p->tty) {
            fprintf(stderr, "\r\033[K%s", line);
            p->line_shown = 1;
        } else {
            fprintf(stderr, "%s\n", line);
        }
        fflush(stderr);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

progress *progress_start(size_t total, const char *const *stages, double every_s)
{
    progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->st = calloc(total ? total : 1, sizeof *p->st);
    if (!p->st) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->total = total;
    p->every_s = every_s;
    p->tty = isatty(2);
    p->t_start = monotonic_s();
    for (size_t i = 0; i < total; i++) {
        stage_stat *s = stat_of(p, stages[i]);
        if (!s) {
            s = &p->st[p->n_st++];
            snprintf(s->name, sizeof s->name, "%s", stages[i]);
        }
        s->remaining++;
    }
    if (every_s > 0 && pthread_create(&p->thread, NULL, ticker, p) == 0) p->have_thread = 1;
    return p;
}

void progress_unit_begin(progress *p, const char *model, const char *unit)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    snprintf(p->cur_model, sizeof p->cur_model, "%s", model);
    snprintf(p->cur_unit, sizeof p->cur_unit, "%s", unit);
    p->cur_t0 = monotonic_s();
    clear_line_locked(p);
    fprintf(stderr, "moeprobe: %s: start %s [%zu/%zu]\n", model, unit, p->done + 1, p->total);
    fflush(stderr);
    pthread_mutex_unlock(&p->mu);
}

void progress_unit_end(progress *p, const char *model, const char *unit, const char *stage,
                       double seconds, int ok, const char *msg)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->cur_t0 = 0;
    clear_line_locked(p);
    if (ok) {
        stage_stat *s = stat_of(p, stage);
        if (s) {
            if (s->remaining) s->remaining--;
            s->finished++;
            s->seconds += seconds;
        }
        p->done++;
        char eta[32];
        fprintf(stderr, "moeprobe: %s: done %s (%.1fs) [%zu/%zu, %.0f%% done, ETA %s]\n", model,
                unit, seconds, p->done, p->total,
                p->total ? 100.0 * (double)p->done / (double)p->total : 100.0,
                progress_fmt_duration(eta_locked(p), eta, sizeof eta));
    } else {
        fprintf(stderr, "moeprobe: %s: FAILED %s (%.1fs): %s\n", model, unit, seconds,
                msg ? msg : "error");
    }
    fflush(stderr);
    pthread_mutex_unlock(&p->mu);
}

void progress_note(progress *p, const char *fmt, ...)
{
    va_list ap;
    if (p) pthread_mutex_lock(&p->mu);
    if (p) clear_line_locked(p);
    fputs("moeprobe: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    if (p) pthread_mutex_unlock(&p->mu);
}

void progress_stop(progress *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->have_thread) pthread_join(p->thread, NULL);
    clear_line_locked(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->st);
    free(p);
}
