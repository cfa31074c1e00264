/* cells.c — table rows of the report's sections: cells of text, numbers and percentages that
 * never print "-0.000" and show "–" for a missing value. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "report/internal.h"

void row_reset(rep_row *r)
{
    r->n = 0;
}

void row_addf(rep_row *r, const char *fmt, ...)
{
    if (r->n >= REP_MAX_COLS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->c[r->n], sizeof r->c[0], fmt, ap);
    va_end(ap);
    r->p[r->n] = r->c[r->n];
    r->n++;
}

void row_num(rep_row *r, double v, int decimals)
{
    char b[32];
    row_addf(r, "%s", rep_num(b, v, decimals));
}

const char *rep_pct(char *buf, size_t len, const char *fmt, double frac)
{
    char b[40];
    if (isnan(frac))
        snprintf(buf, len, "–");
    else if (!isfinite(frac) || fabs(frac) > REP_PCT_MAX / 100)
        snprintf(buf, len, "n/a (ratio over a near-zero base)");
    else {
        rep_fmt_value(b, sizeof b, fmt, 100 * frac);
        snprintf(buf, len, "%s%%", b);
    }
    return buf;
}

void row_pct(rep_row *r, double v, int decimals)
{
    char b[40];
    if (!isfinite(v) || fabs(v) > REP_PCT_MAX / 100) {
        row_addf(r, "%s", rep_pct(b, sizeof b, "%.0f", v));
        return;
    }
    char fmt[16];
    snprintf(fmt, sizeof fmt, "%%.%df", decimals);
    rep_fmt_value(b, sizeof b, fmt, 100 * v);
    row_addf(r, "%s%%", b);
}

void row_emit(rep_doc *d, rep_row *r)
{
    doc_table_row(d, r->n, r->p);
}
