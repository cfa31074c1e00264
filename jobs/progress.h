/* progress.h — progress of a `moeprobe run` on stderr (rank 0 only).
 *
 * Lines (all start "moeprobe: "):
 *   MODEL: start UNIT [k/N]                                    when a unit begins
 *   MODEL: done UNIT (S s) [k/N, P% done, ETA T]               when it is committed
 *   MODEL: FAILED UNIT (S s): MESSAGE                          when it fails
 *   progress: P% done (k/N units), ETA T; running MODEL UNIT for S s   every `every_s` seconds
 * The periodic line comes from a helper thread, so it appears also while one long unit runs
 * (the thread only reads the counters below and writes stderr; it never touches MPI or HDF5).
 * When stderr is a terminal the periodic line is redrawn in place; otherwise (Slurm logs,
 * pipes) every line is a plain line.
 *
 * ETA: the remaining units of each stage times the mean duration of that stage's finished units
 * (units of a stage with none finished yet take the mean over all finished units); "?" before
 * the first unit finishes. */
#ifndef MOEPROBE_PROGRESS_H
#define MOEPROBE_PROGRESS_H

#include <stddef.h>

typedef struct progress progress;

/* Starts tracking `total` units whose stage names are stages[0..total) (copied). every_s <= 0:
 * no periodic lines. Returns NULL only when out of memory (then every call below is a no-op). */
progress *progress_start(size_t total, const char *const *stages, double every_s);
void progress_unit_begin(progress *p, const char *model, const char *unit);
/* ok = 0: the unit failed (msg says why). stage names the unit's stage (for the ETA). */
void progress_unit_end(progress *p, const char *model, const char *unit, const char *stage,
                       double seconds, int ok, const char *msg);
/* One plain line (model may be NULL), kept apart from a redrawn progress line. */
void progress_note(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stops the thread and frees p. NULL is fine. */
void progress_stop(progress *p);
/* Formats seconds as "42s", "3m05s", "2h03m" into buf (>= 16 bytes). */
const char *progress_fmt_duration(double s, char *buf, size_t len);

#endif
