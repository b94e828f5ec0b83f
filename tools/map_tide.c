/* SPDX-License-Identifier: MIT */
/* map_tide.c — what of a process tidemalloc owns, read from the process.
 *
 * libtidemalloc exports `struct tide_introspect tide_introspect`
 * (include/tidemalloc.h).  We find the library's load address in
 * /proc/PID/maps, the symbol's offset in the library's ELF file (elf.c),
 * read the object through /proc/PID/mem, and then the words of its two
 * bitmaps that cover each anonymous mapping: a unit (4 MiB) whose bit is set
 * in segment_map starts a segment, one set in segment_cont_map continues a
 * segment of several units (a large block).
 */
#include "map.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_mem(int fd, uint64_t addr, void *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(addr + done));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r == 0)
        errno = EIO;
      return -1;
    }
    done += (size_t)r;
  }
  return 0;
}

/* Bit `unit` of bitmap 0 (segment_map) or 1 (segment_cont_map). */
static int map_bit(struct tide_view *v, int which, uint64_t unit) {
  if (!v->ok || unit >= v->ti.map_bits)
    return 0;
  uint64_t idx = unit / 64;
  if (!v->word_ok[which] || v->word_idx[which] != idx) {
    uint64_t base = which ? v->ti.segment_cont_map : v->ti.segment_map, w = 0;
    if (read_mem(v->memfd, base + idx * 8, &w, 8) != 0)
      w = 0;
    v->word_idx[which] = idx;
    v->word_val[which] = w;
    v->word_ok[which] = 1;
  }
  return (int)((v->word_val[which] >> (unit % 64)) & 1);
}

/* 0: not tidemalloc's; 1: starts a segment; 2: continues one. */
int map_tide_unit_class(struct tide_view *v, uint64_t unit) {
  if (map_bit(v, 0, unit))
    return 1;
  if (map_bit(v, 1, unit))
    return 2;
  return 0;
}

/* The file that holds tide_introspect: libtidemalloc*.so*, else the program
 * itself (a static link).  Fills v and am->tide_note. */
void map_tide_find(struct address_map *am, const struct mapping *m, size_t n, struct tide_view *v) {
  char exe[PATH_MAX], procpath[64];
  util_fmt(procpath, sizeof procpath, "/proc/%ld/exe", am->pid);
  ssize_t len = readlink(procpath, exe, sizeof exe - 1);
  exe[len > 0 ? len : 0] = 0;

  const struct mapping *lib = NULL, *exe_map = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!is_file(&m[i]) || m[i].offset != 0)
      continue;
    const char *b = base_name(m[i].path);
    if (!lib && strncmp(b, "libtidemalloc", 13) == 0 && strstr(b, ".so"))
      lib = &m[i];
    if (!exe_map && exe[0] && strcmp(m[i].path, exe) == 0)
      exe_map = &m[i];
  }
  const struct mapping *where = lib ? lib : exe_map;
  if (!where) {
    util_fmt(am->tide_note, sizeof am->tide_note, "tidemalloc is not loaded in this process");
    return;
  }
  uint64_t value = 0, first_vaddr = 0;
  int type = 0;
  char err[256], file[PATH_MAX + 64];
  util_fmt(file, sizeof file, "%s", where->path);
  if (access(file, R_OK) != 0)
    util_fmt(file, sizeof file, "/proc/%ld/root%s", am->pid, where->path);
  if (elf_find_symbol(file, "tide_introspect", &value, &type, &first_vaddr, err, sizeof err) != 0) {
    if (lib) {
      am->tide_loaded = 1;
      util_fmt(
          am->tide_note, sizeof am->tide_note,
          "%s is loaded but tide_introspect cannot be found (%s); drawn without tidemalloc's marks",
          base_name(lib->path), err);
    } else {
      util_fmt(am->tide_note, sizeof am->tide_note, "tidemalloc is not loaded in this process");
    }
    return;
  }
  am->tide_loaded = 1;
  uint64_t bias = type == 3 /* ET_DYN */ ? where->start - first_vaddr : 0;
  uint64_t addr = bias + value;
  char mem[64];
  util_fmt(mem, sizeof mem, "/proc/%ld/mem", am->pid);
  v->memfd = open(mem, O_RDONLY | O_CLOEXEC);
  if (v->memfd < 0 || read_mem(v->memfd, addr, &v->ti, sizeof v->ti) != 0) {
    util_fmt(am->tide_note, sizeof am->tide_note,
             "tidemalloc is loaded (%s) but the memory of pid %ld cannot be read (%s); drawn "
             "without tidemalloc's marks",
             base_name(where->path), am->pid, strerror(errno));
    return;
  }
  if (v->ti.magic != TIDE_INTROSPECT_MAGIC) {
    util_fmt(am->tide_note, sizeof am->tide_note,
             "tidemalloc is loaded (%s) but has not set up its heap yet (no allocation so far)",
             base_name(where->path));
    return;
  }
  if (v->ti.segment_shift < 12 || v->ti.segment_shift > 40 || v->ti.map_bits > (1ull << 36)) {
    util_fmt(am->tide_note, sizeof am->tide_note,
             "tidemalloc's tide_introspect (version %u) does not look right (segment_shift %u); "
             "drawn without tidemalloc's marks",
             v->ti.version, v->ti.segment_shift);
    return;
  }
  v->ok = 1;
  am->tide_read = 1;
  util_fmt(am->tide_note, sizeof am->tide_note,
           "tidemalloc is loaded (%s); read its tide_introspect at 0x%llx to mark its memory",
           where->path, (unsigned long long)addr);
}

/* What tidemalloc owns among the anonymous mappings: one interval per
 * segment.  A segment starts at a unit whose segment_map bit is set and
 * spans that unit and the following units whose segment_cont_map bits are
 * set.  A large block's mapping may end inside its last unit (and another
 * mapping may use the rest of the unit), so the interval ends where the
 * mapping that holds the segment's start ends. */

size_t map_tide_owned(const struct mapping *m, size_t n, struct tide_view *v, struct owned **out) {
  struct owned *o = NULL;
  size_t no = 0;
  uint64_t shift = v->ti.segment_shift, unit = 1ull << shift;
  for (size_t i = 0; v->ok && i < n; i++) {
    if (!is_anon(&m[i]))
      continue;
    uint64_t u0 = m[i].start >> shift, u1 = (m[i].end - 1) >> shift;
    if (u1 - u0 > (1u << 20))
      continue; /* a huge reservation: not ours */
    for (uint64_t u = u0; u <= u1; u++) {
      uint64_t start = u << shift;
      if (start < m[i].start || !map_bit(v, 0, u))
        continue;
      uint64_t k = 1;
      while (k < (1u << 20) && map_bit(v, 1, u + k))
        k++;
      uint64_t limit = (u + k) << shift, end = m[i].end;
      for (size_t j = i; end < limit && j + 1 < n && m[j + 1].start == end && is_anon(&m[j + 1]);
           j++)
        end = m[j + 1].end;
      if (end > limit)
        end = limit;
      o = util_xrealloc(o, (no + 1) * sizeof *o);
      o[no].start = start;
      o[no].end = end;
      o[no].large = k > 1 || end - start < unit || strstr(m[i].path, "huge") != NULL;
      no++;
    }
  }
  *out = o;
  return no;
}

int map_tide_in_owned(const struct owned *o, size_t no, uint64_t addr) {
  for (size_t i = 0; i < no; i++)
    if (addr >= o[i].start && addr < o[i].end)
      return 1;
  return 0;
}
