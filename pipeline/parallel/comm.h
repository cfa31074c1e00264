/* comm.h — the job's MPI ranks as the rest of moeprobe sees them: start/stop, rank and size,
 * the few collectives the runner and the CLI need (byte broadcasts and gathers, reductions),
 * and the one fatal-error exit.
 *
 * Works without MPI too: before comm_init (or in a program that never calls it) the job is one
 * rank and every collective is a local copy. Stages never call MPI; they call the runner.
 *
 * Fatal errors: comm_fatal prints "moeprobe: rank R/N on HOST, WHERE: MESSAGE" on stderr and
 * ends the whole job with MPI_Abort (exit status 1 without MPI). Under mpirun / srun the other
 * ranks are killed within seconds, so a failing rank never leaves the others waiting in a
 * collective. */
#ifndef MOEPROBE_COMM_H
#define MOEPROBE_COMM_H

#include <stddef.h>
#include <stdint.h>

/* Initialises MPI (MPI_THREAD_FUNNELED). Returns 0; failures are fatal. */
int comm_init(int *argc, char ***argv);
/* MPI_Finalize if comm_init ran. */
void comm_finalize(void);
int comm_active(void); /* 1 after comm_init, before comm_finalize */
int comm_rank(void);   /* 0 without MPI */
int comm_size(void);   /* 1 without MPI */
/* The MPI library's version (MPI_Get_library_version), first line only, e.g. "Open MPI
 * v4.1.4, package: ...". Callable before comm_init. Static storage. */
const char *comm_library_version(void);

_Noreturn void comm_fatal(const char *where, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A function comm_fatal calls (once, on the failing rank) after printing and before ending the
 * job, so that the caller can leave a durable trace of the failure (the run records the unit as
 * failed with the message in OUT/manifest.json). NULL clears it. It must not call comm_fatal. */
typedef void (*comm_fatal_hook)(void *ctx, const char *where, const char *msg);
void comm_set_fatal_hook(comm_fatal_hook fn, void *ctx);

void comm_barrier(void);
/* Broadcasts a byte buffer from root: on other ranks *buf is malloc'd and *len set. */
void comm_bcast_bytes(void **buf, size_t *len, int root);
/* Gathers one byte buffer per rank to root: *out (malloc'd, concatenated in rank order) and
 * lens[size] (malloc'd) on root; NULL elsewhere. */
void comm_gather_bytes(const void *buf, size_t len, void **out, size_t **lens, int root);
/* Same to every rank. */
void comm_allgather_bytes(const void *buf, size_t len, void **out, size_t **lens);
int64_t comm_allreduce_max_i64(int64_t v);
int64_t comm_allreduce_sum_i64(int64_t v);
double comm_allreduce_max_f64(double v);
double comm_allreduce_sum_f64(double v);
/* 1 if every rank passes 1 (use to agree that all ranks succeeded a local step). */
int comm_all_ok(int ok);

#endif
