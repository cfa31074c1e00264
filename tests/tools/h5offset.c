/* h5offset — where an object's bytes lie in an HDF5 file, so that tests can damage exactly the
 * data or exactly the metadata of a part (tests/cli/damaged_parts.sh).
 *   h5offset FILE DATASET          "OFFSET SIZE" of the dataset's raw data (contiguous) or of
 *                                  its first stored chunk (chunked, possibly compressed)
 *   h5offset FILE OBJECT --header  "ADDRESS" of the object's header (HDF5 metadata)
 * Exit 0, or 1 with a message. */
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--header"))) {
        fprintf(stderr, "usage: h5offset FILE DATASET | h5offset FILE OBJECT --header\n");
        return 2;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "h5offset: %s: cannot open\n", argv[1]);
        return 1;
    }
    int rc = 1;
    if (argc == 4) {
        haddr_t addr = HADDR_UNDEF;
#if H5_VERSION_GE(1, 12, 0)
        H5O_info2_t info;
        if (H5Oget_info_by_name3(f, argv[2], &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0)
            H5VLnative_token_to_addr(f, info.token, &addr);
#else
        H5O_info_t info;
        if (H5Oget_info_by_name2(f, argv[2], &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0)
            addr = info.addr;
#endif
        if (addr != HADDR_UNDEF) {
            printf("%llu\n", (unsigned long long)addr);
            rc = 0;
        } else {
            fprintf(stderr, "h5offset: %s: no object '%s'\n", argv[1], argv[2]);
        }
        H5Fclose(f);
        return rc;
    }
    hid_t d = H5Dopen2(f, argv[2], H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "h5offset: %s: no dataset '%s'\n", argv[1], argv[2]);
        H5Fclose(f);
        return 1;
    }
    hid_t dcpl = H5Dget_create_plist(d);
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hid_t sp = H5Dget_space(d);
        hsize_t off[H5S_MAX_RANK];
        unsigned mask;
        haddr_t addr;
        hsize_t size;
        if (H5Dget_chunk_info(d, sp, 0, off, &mask, &addr, &size) >= 0) {
            printf("%llu %llu\n", (unsigned long long)addr, (unsigned long long)size);
            rc = 0;
        }
        H5Sclose(sp);
    } else {
        haddr_t addr = H5Dget_offset(d);
        hsize_t size = H5Dget_storage_size(d);
        if (addr != HADDR_UNDEF) {
            printf("%llu %llu\n", (unsigned long long)addr, (unsigned long long)size);
            rc = 0;
        }
    }
    if (rc) fprintf(stderr, "h5offset: %s: '%s' has no stored data\n", argv[1], argv[2]);
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(f);
    return rc;
}
