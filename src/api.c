/* SPDX-License-Identifier: MIT */
/* The glibc extensions that are neither allocation nor freeing: trimming
 * and mallopt.  Statistics views live in stats.c. */
#define _GNU_SOURCE
#include "internal/internal.h"
#include "tidemalloc.h"

#include <malloc.h>

/* glibc returns 1 if memory was given back, 0 otherwise. */
int tide_malloc_trim(size_t pad) {
  (void)pad; /* the top keeps no pad: everything free goes */
  if (tide_init_state != 2) return 0;
  trace_request(TIDE_REQ_TRIM, pad);
  uint64_t before = tide_load(&tide_os_stats.returned);
  heap_trim_all();
  return tide_load(&tide_os_stats.returned) > before;
}

size_t tide_trim(void) {
  if (tide_init_state != 2) return 0;
  trace_request(TIDE_REQ_TRIM, 0);
  uint64_t before = tide_load(&tide_os_stats.returned);
  heap_trim_all();
  return (size_t)(tide_load(&tide_os_stats.returned) - before);
}

int tide_mallopt(int param, int value) {
  if (tide_init_state != 2) init_process();
  return options_mallopt(param, value);
}

const char *tide_version(void) { return TIDEMALLOC_VERSION_STRING; }
