/* Portable path: built on every platform, the reference for the SIMD paths. */
#include "fi_ops_scalar.h"
#define FI_TABLE fi_table_scalar
#define FI_TABLE_NAME "scalar"
#include "fi_kernels_body.h"
