/* SPDX-License-Identifier: MIT */
/* summary.c — `tide run`'s human summary of tidemalloc's statistics.
 *
 * Input: the JSON objects of docs/stats-format.md, one per process that ran
 * on tidemalloc.  The direct child's object is shown in full; the others
 * (children the command forked or ran) are counted and totalled.
 */
#include "tide.h"

#include <stdlib.h>
#include <string.h>

#define U(o, k) json_u64((o), (k), NULL)
#define CALLS(o, k) json_u64((o), (k), "calls")
#define BYTES(o, k) json_u64((o), (k), "bytes")

static const char *plural(uint64_t n, const char *one, const char *many) {
  return n == 1 ? one : many;
}

struct class_row {
  uint64_t block_size, used, free, pages;
};

static int by_bytes_in_use(const void *a, const void *b) {
  const struct class_row *x = a, *y = b;
  uint64_t bx = x->block_size * x->used, by = y->block_size * y->used;
  if (bx != by)
    return bx < by ? 1 : -1;
  return x->block_size < y->block_size ? -1 : x->block_size > y->block_size;
}

static void print_classes(FILE *out, const struct json *o) {
  const struct json *arr = json_get(o, "classes");
  if (!arr || arr->type != JSON_ARR || !arr->child) {
    fprintf(out, "size classes     none in use\n");
    return;
  }
  size_t n = 0, cap = 16;
  struct class_row *rows = util_xmalloc(cap * sizeof *rows);
  for (const struct json *c = arr->child; c; c = c->next) {
    if (n == cap)
      rows = util_xrealloc(rows, (cap *= 2) * sizeof *rows);
    rows[n].block_size = U(c, "block_size");
    rows[n].used = U(c, "blocks_used");
    rows[n].free = U(c, "blocks_free");
    rows[n].pages = U(c, "pages");
    n++;
  }
  qsort(rows, n, sizeof *rows, by_bytes_in_use);
  size_t shown = n < 8 ? n : 8;
  fprintf(out, "size classes     %zu with pages; the %zu largest by bytes in use:\n", n, shown);
  fprintf(out, "                 %10s  %10s  %12s  %12s  %7s\n", "block size", "in use",
          "blocks used", "blocks free", "pages");
  for (size_t i = 0; i < shown; i++)
    fprintf(out, "                 %10s  %10s  %12s  %12s  %7s\n", util_num(rows[i].block_size),
            util_sz(rows[i].block_size * rows[i].used), util_num(rows[i].used),
            util_num(rows[i].free), util_num(rows[i].pages));
  free(rows);
}

static void print_one(FILE *out, const struct json *o, long maxrss_kib) {
  uint64_t hs = U(o, "heap_start"), hb = U(o, "heap_break"), hp = U(o, "heap_peak_break");
  if (hs) {
    fprintf(out, "brk heap         peak %s, at exit %s  (start 0x%llx, break 0x%llx)\n",
            util_sz(hp > hs ? hp - hs : 0), util_sz(U(o, "heap_bytes")), (unsigned long long)hs,
            (unsigned long long)hb);
  } else {
    fprintf(out, "brk heap         none (brk not used or refused; segments came from mmap)\n");
  }
  fprintf(out, "                 grown %s %s by %s, lowered %s %s by %s\n",
          util_num(CALLS(o, "brk_grow")), plural(CALLS(o, "brk_grow"), "time", "times"),
          util_sz(BYTES(o, "brk_grow")), util_num(CALLS(o, "brk_shrink")),
          plural(CALLS(o, "brk_shrink"), "time", "times"), util_sz(BYTES(o, "brk_shrink")));
  fprintf(out, "mappings (mmap)  %s %s, %s; %s unmapped, %s; %s remapped\n",
          util_num(CALLS(o, "mmap")), plural(CALLS(o, "mmap"), "mapping", "mappings"),
          util_sz(BYTES(o, "mmap")), util_num(CALLS(o, "munmap")), util_sz(BYTES(o, "munmap")),
          util_num(CALLS(o, "mremap")));
  fprintf(
      out, "                 mapped at exit %s (peak %s); large blocks (a mapping each) live: %s\n",
      util_sz(U(o, "mapped_bytes")), util_sz(U(o, "mapped_peak")), util_num(U(o, "huge_blocks")));
  fprintf(out, "given back       %s: break lowered %s, madvised %s (%s %s), unmapped %s\n",
          util_sz(U(o, "returned_bytes")), util_sz(BYTES(o, "brk_shrink")),
          util_sz(BYTES(o, "madvise")), util_num(CALLS(o, "madvise")),
          plural(CALLS(o, "madvise"), "call", "calls"), util_sz(BYTES(o, "munmap")));
  fprintf(
      out, "OS calls         brk grow %s, brk shrink %s, mmap %s, munmap %s, mremap %s, madvise %s",
      util_num(CALLS(o, "brk_grow")), util_num(CALLS(o, "brk_shrink")), util_num(CALLS(o, "mmap")),
      util_num(CALLS(o, "munmap")), util_num(CALLS(o, "mremap")), util_num(CALLS(o, "madvise")));
  fprintf(out, "; %s failed\n", util_num(U(o, "os_failures")));
  fprintf(out, "allocations      %s malloc, %s free; %s requested in all\n",
          util_num(U(o, "malloc_calls")), util_num(U(o, "free_calls")),
          util_sz(U(o, "requested_bytes")));
  fprintf(out, "                 peak allocated %s, allocated at exit %s\n",
          util_sz(U(o, "allocated_peak")), util_sz(U(o, "allocated_bytes")));
  fprintf(out, "memory           committed at exit %s (peak %s), resident at exit %s\n",
          util_sz(U(o, "committed_bytes")), util_sz(U(o, "committed_peak")),
          util_sz(U(o, "resident_bytes")));
  fprintf(out, "                 peak RSS of the process %s (ru_maxrss %ld KiB: the kernel's, all of "
               "the process, not only its heap)\n", util_sz((uint64_t)maxrss_kib * 1024), maxrss_kib);
  fprintf(out, "threads          %s created, %s alive at exit\n", util_num(U(o, "threads_created")),
          util_num(U(o, "threads_alive")));
  fprintf(out, "segments         %s live (%s in the brk heap)\n", util_num(U(o, "segments")),
          util_num(U(o, "brk_segments")));
  print_classes(out, o);
}

void summary_print(FILE *out, struct json **objs, size_t n, long child_pid, const char *what,
                   const char *status, long maxrss_kib) {
  size_t main_i = n;
  for (size_t i = 0; i < n; i++)
    if ((long)U(objs[i], "pid") == child_pid) {
      main_i = i;
      break;
    }
  int found = main_i < n;
  if (!found)
    main_i = 0;
  const struct json *o = objs[main_i];
  const char *ver = json_str(o, "tidemalloc");
  fprintf(out, "\n== tidemalloc: where the memory of `%s` came from ==\n", what);
  fprintf(out, "pid %llu, %s, tidemalloc %s%s\n", (unsigned long long)U(o, "pid"), status,
          ver ? ver : "?",
          found ? ""
                : " (the command's own process wrote no statistics; this is the first that did)");
  print_one(out, o, maxrss_kib);

  if (n > 1) {
    uint64_t mc = 0, fc = 0, brk = 0, mm = 0, mmc = 0, ret = 0, peak = 0;
    struct strbuf pids = {0};
    size_t listed = 0;
    for (size_t i = 0; i < n; i++) {
      if (i == main_i)
        continue;
      const struct json *x = objs[i];
      mc += U(x, "malloc_calls");
      fc += U(x, "free_calls");
      brk += BYTES(x, "brk_grow");
      mm += BYTES(x, "mmap");
      mmc += CALLS(x, "mmap");
      ret += U(x, "returned_bytes");
      if (U(x, "allocated_peak") > peak)
        peak = U(x, "allocated_peak");
      if (listed++ < 8)
        sb_printf(&pids, "%s%llu", pids.len ? ", " : "", (unsigned long long)U(x, "pid"));
    }
    if (listed > 8)
      sb_puts(&pids, ", ...");
    fprintf(out, "other processes  %zu more %s ran on tidemalloc (pid %s)\n", n - 1,
            plural(n - 1, "process", "processes"), pids.buf);
    fprintf(out,
            "                 together: %s malloc, %s free; brk grew %s; %s mmap %s, %s;\n"
            "                 given back %s; largest peak allocated %s\n",
            util_num(mc), util_num(fc), util_sz(brk), util_num(mmc), plural(mmc, "call", "calls"),
            util_sz(mm), util_sz(ret), util_sz(peak));
    sb_free(&pids);
  }
}
