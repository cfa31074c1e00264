/* run_provenance.h — what identifies a run's inputs and environment, for the archive's root
 * attributes (arc_provenance): the checkpoint (file names, sizes, SHA-256 of each safetensors
 * header and of config.json / tokenizer.json / the shard index), the relation files' SHA-256, the
 * command line, the MPI / OpenBLAS / libyaml versions and the kernels' ISA path. */
#ifndef MOEPROBE_CLI_RUN_PROVENANCE_H
#define MOEPROBE_CLI_RUN_PROVENANCE_H

#include "pipeline/archive/archive.h"
#include "pipeline/config/relations.h"
#include "pipeline/util/error.h"

typedef struct run_prov {
    char *checkpoint_json; /* malloc'd */
    char *relations_json;  /* malloc'd */
} run_prov;

/* The checkpoint folder's identity as JSON: {"path", "files": [{"name", "bytes",
 * "header_sha256"} per *.safetensors, sorted], "config_json_sha256", "tokenizer_json_sha256",
 * "index_json_sha256"} (absent files omitted). A safetensors file whose header length does not
 * fit the file is an error naming the file, the offset and the length. */
char *run_prov_checkpoint_json(const char *model_dir, mp_err *err);
/* The relations as JSON [{"id", "file", "bytes", "sha256"}]. */
char *run_prov_relations_json(const lre_set *rels, mp_err *err);

int run_prov_build(run_prov *p, const char *model_dir, const lre_set *rels, mp_err *err);
void run_prov_free(run_prov *p);

/* Fills the run-level fields of prov (pointers into p, static strings and command_line). */
void run_prov_fill(const run_prov *p, const char *command_line, arc_provenance *prov);

/* The command line as one string, arguments with spaces or quotes single-quoted. malloc'd. */
char *run_prov_command_line(int argc, char **argv);

#endif
