/* SPDX-License-Identifier: MIT */
/* A stand-in for libtidemalloc.so that only writes the statistics line at
 * exit (docs/stats-format.md), so that `tide run` can be tested on its own:
 * TIDE_LIB=<this .so> tide run -- CMD.  Every process that loads it writes
 * one line with its pid, as the real library does. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((destructor)) static void fake_stats_at_exit(void) {
  const char *opts = getenv("TIDEMALLOC_OPTIONS");
  const char *p = opts ? strstr(opts, "stats_file=") : NULL;
  if (!p)
    return;
  char path[4096];
  size_t n = strcspn(p + 11, ",");
  if (n >= sizeof path)
    return;
  memcpy(path, p + 11, n);
  path[n] = 0;
  char line[2048];
  int len = snprintf(
      line, sizeof line,
      "{\"tidemalloc\":\"0.1\",\"pid\":%d,\"requested_bytes\":1000000,\"allocated_bytes\":4096,"
      "\"allocated_peak\":900000,\"committed_bytes\":4194304,\"committed_peak\":8388608,"
      "\"resident_bytes\":1048576,\"returned_bytes\":6291456,\"heap_start\":94000000000000,"
      "\"heap_break\":94000004194304,\"heap_peak_break\":94000008388608,\"heap_bytes\":4194304,"
      "\"mapped_bytes\":0,\"mapped_peak\":2101248,\"huge_blocks\":0,"
      "\"brk_grow\":{\"calls\":3,\"bytes\":8388608},\"brk_shrink\":{\"calls\":1,\"bytes\":4194304},"
      "\"mmap\":{\"calls\":1,\"bytes\":2101248},\"munmap\":{\"calls\":1,\"bytes\":2101248},"
      "\"mremap\":{\"calls\":0,\"bytes\":0},\"madvise\":{\"calls\":2,\"bytes\":65536},"
      "\"os_failures\":0,\"malloc_calls\":1234,\"free_calls\":1200,\"threads_alive\":1,"
      "\"threads_created\":1,\"segments\":1,\"brk_segments\":1,"
      "\"classes\":[{\"block_size\":16,\"blocks_used\":10,\"blocks_free\":4086,\"pages\":1},"
      "{\"block_size\":1024,\"blocks_used\":3,\"blocks_free\":61,\"pages\":1}]}\n",
      (int)getpid());
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0)
    return;
  if (write(fd, line, (size_t)len) < 0) {
  }
  close(fd);
}
