/* fuzz_safetensors.c — a .safetensors file made of the input (8-byte header length, JSON
 * header, data) through st_open, which validates it like the reference parser. On success every
 * entry's view must lie inside the mapping. */
#include "pipeline/model/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    st_file f;
    mp_err err;
    err_init(&err);
    fuzz_memfile(data, size, path, sizeof path);
    int rc = st_open(&f, path, &err);
    fuzz_check_err(rc, &err);
    if (rc == 0) {
        for (int i = 0; i < f.n_entries; i++) {
            mp_tensor t;
            st_view(&f, i, &t);
            const st_entry *e = &f.entries[i];
            FUZZ_REQUIRE(e->begin <= e->end && e->end <= f.data_len, "entry %d outside data", i);
            FUZZ_REQUIRE(st_find(&f, e->name) == i, "name table disagrees for entry %d", i);
            /* touch the first and last byte of the span: must be mapped */
            if (e->end > e->begin) {
                volatile uint8_t a = f.data[e->begin], b = f.data[e->end - 1];
                (void)a;
                (void)b;
            }
        }
        (void)st_meta(&f, "format");
        st_close(&f);
    }
    return 0;
}
