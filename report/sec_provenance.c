/* sec_provenance.c — where each archive came from: versions, configurations, ranks and the
 * time of every unit (/units). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/schema.h"
#include "report/sections.h"

typedef struct analysis_time {
    char name[64];
    int units;
    double total, max;
    const char *max_id;
} analysis_time;

void sec_provenance(rep_doc *d, rep_model *m, size_t n)
{
    rep_row r;
    int diffs = 0;
    for (size_t i = 0; i < n; i++) diffs |= m[i].run_diff != NULL;
    if (diffs) {
        static const char *const HD[] = {
            "Archive", "Run-config keys that differ from the other runs of its model"};
        doc_h(d, 3, "run-differences", "Runs of the same model compared");
        doc_table_begin(d, 2, HD);
        for (size_t i = 0; i < n; i++) {
            if (!m[i].run_diff) continue;
            row_reset(&r);
            row_addf(&r, "%s", m[i].name);
            row_addf(&r, "%.190s", m[i].run_diff);
            row_emit(d, &r);
        }
        doc_table_end(d);
    }
    for (size_t i = 0; i < n; i++) {
        const rep_model *mm = &m[i];
        doc_h(d, 3, NULL, mm->name);
        static const char *const H[] = {"Field", "Value"};
        doc_table_begin(d, 2, H);
#define KV(k, ...)                                                                                 \
    do {                                                                                           \
        row_reset(&r);                                                                             \
        row_addf(&r, "%s", k);                                                                     \
        row_addf(&r, __VA_ARGS__);                                                                 \
        row_emit(d, &r);                                                                           \
    } while (0)
        KV("archive", "%s", mm->path);
        KV("moeprobe version", "%s", mm->version ? mm->version : "–");
        KV("git commit", "%s%s", mm->git ? mm->git : "–",
           mm->build_dirty == 1 ? " (built from a modified tree)" : "");
        KV("archive schema", "version %d%s", mm->schema_version,
           mm->schema_version < SCH_VERSION ? " (older layout: no dimension scales, provenance or "
                                              "tidy forms; read as it is)"
                                            : "");
        if (mm->model_name) KV("model name", "%s", mm->model_name);
        if (mm->kernel_isa) KV("kernels", "%s", mm->kernel_isa);
        if (mm->hdf5_version)
            KV("libraries", "HDF5 %s; %s; %s; %s", mm->hdf5_version,
               mm->mpi_library ? mm->mpi_library : "MPI –",
               mm->openblas ? mm->openblas : "OpenBLAS –",
               mm->compiler ? mm->compiler : "compiler –");
        KV("created", "%s", mm->created ? mm->created : "–");
        KV("updated", "%s", mm->updated ? mm->updated : "–");
        KV("host", "%s", mm->hostname ? mm->hostname : "–");
        if (isfinite(mm->mpi_ranks))
            KV("MPI ranks", "%.0f", mm->mpi_ranks);
        else
            KV("MPI ranks", "–");
        if (mm->cfg_ok) {
            KV("architecture", "%s", mm->arch);
            KV("layers / hidden / heads", "%d / %d / %d", mm->L, mm->H, mm->nH);
            if (mm->E > 0)
                KV("experts", "%d routed, top-%d%s%s", mm->E, mm->k,
                   mm->renorm ? ", renormalised" : "", mm->shared ? ", plus a shared expert" : "");
            else
                KV("experts", "none (dense)");
        } else {
            KV("model config", "not readable: %s", mm->cfg_problem);
        }
        if (!mm->run_cfg) KV("run config", "not readable: %s", mm->run_cfg_problem);
        if (mm->n_stages) {
            char st[400] = "";
            size_t o = 0;
            for (size_t q = 0; q < mm->n_stages && o < sizeof st - 2; q++)
                o += (size_t)snprintf(st + o, sizeof st - o, "%s%s", q ? ", " : "", mm->stages[q]);
            KV("stages", "%s", st);
        }
        double tot = 0;
        for (size_t q = 0; q < mm->n_units; q++)
            if (isfinite(mm->units[q].seconds)) tot += mm->units[q].seconds;
        KV("units complete", "%zu (%.1f s in total)", mm->n_units, tot);
#undef KV
        doc_table_end(d);
        /* time per stage */
        analysis_time st[32];
        int ns = 0;
        for (size_t q = 0; q < mm->n_units; q++) {
            const rep_unit *u = &mm->units[q];
            size_t pl = strcspn(u->id, "/");
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)pl, u->id);
            int k = 0;
            while (k < ns && strcmp(st[k].name, name)) k++;
            if (k == ns) {
                if (ns == 32) continue;
                memset(&st[ns], 0, sizeof st[ns]);
                snprintf(st[ns].name, sizeof st[ns].name, "%s", name);
                ns++;
            }
            st[k].units++;
            if (isfinite(u->seconds)) {
                st[k].total += u->seconds;
                if (u->seconds >= st[k].max) st[k].max = u->seconds, st[k].max_id = u->id;
            }
        }
        if (ns) {
            static const char *const HT[] = {"Stage", "Units", "Seconds", "Mean s / unit",
                                             "Slowest unit"};
            doc_table_begin(d, 5, HT);
            for (int k = 0; k < ns; k++) {
                row_reset(&r);
                row_addf(&r, "%s", st[k].name);
                row_addf(&r, "%d", st[k].units);
                row_addf(&r, "%.2f", st[k].total);
                row_addf(&r, "%.2f", st[k].total / st[k].units);
                row_addf(&r, "%s (%.2f s)", st[k].max_id ? st[k].max_id : "–", st[k].max);
                row_emit(d, &r);
            }
            doc_table_end(d);
            char sum[300];
            snprintf(sum, sizeof sum, "%s: every unit", mm->name);
            doc_details_begin(d, sum);
            static const char *const HU[] = {"Unit", "Seconds", "Committed at"};
            doc_table_begin(d, 3, HU);
            for (size_t q = 0; q < mm->n_units; q++) {
                row_reset(&r);
                row_addf(&r, "%s", mm->units[q].id);
                row_num(&r, mm->units[q].seconds, 2);
                row_addf(&r, "%s", mm->units[q].committed_at ? mm->units[q].committed_at : "–");
                row_emit(d, &r);
            }
            doc_table_end(d);
            doc_details_end(d);
        } else {
            doc_note(d, "%s lists no complete units (/units).", mm->name);
        }
        if (mm->run_config_yaml) {
            char sum[300];
            snprintf(sum, sizeof sum, "%s: run config (effective YAML)", mm->name);
            doc_details_begin(d, sum);
            doc_pre(d, mm->run_config_yaml);
            doc_details_end(d);
        }
        if (mm->model_config_json) {
            char sum[300];
            snprintf(sum, sizeof sum, "%s: model config.json", mm->name);
            doc_details_begin(d, sum);
            doc_pre(d, mm->model_config_json);
            doc_details_end(d);
        }
    }
}
