/* h5read.h — test-only helpers to read the fixtures' reference HDF5 files (refs/<model>.h5). */
#ifndef MOEPROBE_TESTS_H5READ_H
#define MOEPROBE_TESTS_H5READ_H

#include <stdint.h>

/* Reads dataset `path` of FILE as double (any numeric type), malloc'd; shape into dims (up to
 * 4), rank into *ndim. Returns NULL if missing. */
double *h5r_read(const char *file, const char *path, int *ndim, int64_t dims[4]);
/* Reads a string attribute of an object; malloc'd or NULL. */
char *h5r_attr_str(const char *file, const char *obj, const char *name);
/* Reads a numeric attribute (scalar or array) as doubles; malloc'd with *n elements, or NULL. */
double *h5r_attr_num(const char *file, const char *obj, const char *name, int64_t *n);
/* Number of direct members of a group whose name starts with prefix. */
int h5r_count(const char *file, const char *group, const char *prefix);

#endif
