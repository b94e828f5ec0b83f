/* SPDX-License-Identifier: MIT */
/* map.c — `tide map PID`: read a process's address space (/proc/PID/maps)
 * and turn it into boxes (struct region, map.h): one file's mappings, the
 * brk heap, anonymous mappings cut into tidemalloc's segments and large
 * blocks (what tidemalloc owns comes from map_tide.c) and the rest.
 * map_draw.c draws them.
 */
#include "map.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <tidemalloc.h>
#include <unistd.h>

void map_usage(FILE *f) {
  fputs("usage: tide map PID|self [--svg FILE]\n"
        "\n"
        "Draw the address space of process PID (or of tide itself, for 'self') from\n"
        "/proc/PID/maps as a column of boxes, high addresses on top: the stack, shared\n"
        "libraries, anonymous mappings, the brk heap and the executable's text, data\n"
        "and bss, with their start addresses and sizes; unmapped gaps are folded.\n"
        "If the process runs on tidemalloc, the memory tidemalloc owns is marked\n"
        "(its brk heap, its segments and large blocks), read from the process's\n"
        "tide_introspect object through /proc/PID/mem (this needs the right to\n"
        "ptrace the process; without it the picture has no marks).\n"
        "\n"
        "options:\n"
        "  --svg FILE    also write the picture as SVG to FILE ('-' for stdout, and\n"
        "                then the text picture is not printed)\n"
        "  -h, --help    show this help and exit\n",
        f);
}

/* ---- /proc/PID/maps --------------------------------------------------------- */

static size_t read_maps(long pid, struct mapping **out) {
  char path[64];
  util_fmt(path, sizeof path, "/proc/%ld/maps", pid);
  char *text = util_read_file(path, NULL);
  if (!text) {
    if (errno == ENOENT)
      util_die("map: no process %ld", pid);
    util_die("map: cannot read %s: %s", path, strerror(errno));
  }
  struct mapping *m = NULL;
  size_t n = 0, cap = 0;
  for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    if (nl)
      *nl = 0;
    unsigned long long s, e, off;
    char perms[8];
    int pos = 0;
    if (sscanf(line, "%llx-%llx %7s %llx %*s %*u %n", &s, &e, perms, &off, &pos) < 4 || !pos)
      continue;
    if (n == cap)
      m = util_xrealloc(m, (cap = cap ? cap * 2 : 256) * sizeof *m);
    m[n].start = s;
    m[n].end = e;
    m[n].offset = off;
    util_fmt(m[n].perms, sizeof m[n].perms, "%s", perms);
    m[n].path = util_xstrdup(line + pos);
    n++;
  }
  free(text);
  *out = m;
  return n;
}

/* ---- building the regions ----------------------------------------------------- */

static struct region *add_region(struct address_map *am, uint64_t s, uint64_t e, enum region_kind k,
                                 const char *name) {
  if (am->n == am->cap)
    am->r = util_xrealloc(am->r, (am->cap = am->cap ? am->cap * 2 : 64) * sizeof *am->r);
  struct region *r = &am->r[am->n++];
  memset(r, 0, sizeof *r);
  r->start = s;
  r->end = e;
  r->kind = k;
  r->owned = k == RK_TIDE_HEAP || k == RK_TIDE_SEG || k == RK_TIDE_LARGE || k == RK_TIDE_META;
  r->nmaps = 1;
  util_fmt(r->name, sizeof r->name, "%s", name);
  return r;
}

static void detail(struct region *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void detail(struct region *r, const char *fmt, ...) {
  if (r->ndetail >= REGION_DETAILS)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->detail[r->ndetail++], REGION_TEXT, fmt, ap);
  va_end(ap);
}

static const char *part_name(const struct mapping *m) {
  if (!is_file(m))
    return "bss";
  if (m->perms[2] == 'x')
    return "text";
  if (m->perms[1] == 'w')
    return "data";
  if (m->perms[0] == 'r')
    return m->offset == 0 ? "headers, read-only data" : "read-only data";
  return "padding (no access)";
}

/* One file's consecutive mappings m[i..j] (plus its bss) as one box. */
static void add_file(struct address_map *am, struct mapping *m, size_t i, size_t j,
                     const char *exe) {
  int code = 0;
  for (size_t k = i; k <= j; k++)
    code |= is_file(&m[k]) && m[k].perms[2] == 'x';
  const char *p = m[i].path;
  enum region_kind kind = strcmp(p, exe) == 0                               ? RK_EXE
                          : strncmp(base_name(p), "libtidemalloc", 13) == 0 ? RK_TIDELIB
                          : code                                            ? RK_LIB
                                                                            : RK_FILE;
  struct region *r = add_region(am, m[i].start, m[j].end, kind, p);
  r->nmaps = (int)(j - i + 1);
  util_fmt(r->title, sizeof r->title, "%s%s",
           kind == RK_EXE    ? "executable "
           : kind == RK_FILE ? "file "
                             : "",
           p);
  if (kind == RK_EXE) {
    for (size_t k = i; k <= j; k++)
      detail(r, "%-24s %s 0x%012llx %10s", part_name(&m[k]), m[k].perms,
             (unsigned long long)m[k].start, util_sz(m[k].end - m[k].start));
    return;
  }
  if (kind == RK_FILE) {
    r->nsegs = 1; /* files in the box, once neighbours are merged */
    util_fmt(r->dir, sizeof r->dir, "%s", p);
    char *slash = strrchr(r->dir, '/');
    if (slash)
      slash[slash == r->dir] = 0;
    return;
  }
  /* A library: sizes by part, in one line. */
  static const char *const parts[] = {"text", "rodata", "data", "bss", "padding (no access)"};
  uint64_t sizes[5] = {0};
  for (size_t k = i; k <= j; k++) {
    const char *pn = part_name(&m[k]);
    int idx = strcmp(pn, "text") == 0   ? 0
              : strcmp(pn, "data") == 0 ? 2
              : strcmp(pn, "bss") == 0  ? 3
              : pn[0] == 'p'            ? 4
                                        : 1;
    sizes[idx] += m[k].end - m[k].start;
  }
  char line[REGION_TEXT] = "";
  size_t len = 0;
  for (int k = 0; k < 5; k++)
    if (sizes[k] && len < sizeof line)
      len += (size_t)util_fmt(line + len, sizeof line - len, "%s%s %s", len ? ", " : "",
                              k == 4 ? "padding" : parts[k], util_sz(sizes[k]));
  detail(r, "%s", line);
  if (kind == RK_TIDELIB)
    detail(r, "tidemalloc itself; its bss holds the segment map");
}

/* The [heap] mappings m[i..j]: split at tidemalloc's heap_start/heap_break. */
static void add_heap(struct address_map *am, struct mapping *m, size_t i, size_t j,
                     struct tide_view *v) {
  uint64_t s = m[i].start, e = m[j].end;
  uint64_t hs = v->ok ? v->ti.heap_start : 0, hb = v->ok ? v->ti.heap_break : 0;
  hb = (hb + 4095) & ~4095ull;
  if (!hs || hb <= s || hs >= e) {
    struct region *r = add_region(am, s, e, RK_HEAP, "[heap]");
    r->nmaps = (int)(j - i + 1);
    util_fmt(r->title, sizeof r->title, "brk heap [heap]");
    detail(r, "start 0x%llx, break 0x%llx (moved by brk)", (unsigned long long)s,
           (unsigned long long)e);
    if (v->ok && !hs)
      detail(r, "tidemalloc has no brk heap (brk not used or refused)");
    return;
  }
  if (hs > s) {
    struct region *r = add_region(am, s, hs, RK_HEAP, "[heap]");
    util_fmt(r->title, sizeof r->title, "brk heap [heap], below tidemalloc's");
    detail(r, "the initial break up to tidemalloc's aligned start, or another sbrk user");
  }
  uint64_t ts = hs > s ? hs : s, te = hb < e ? hb : e;
  struct region *r = add_region(am, ts, te, RK_TIDE_HEAP, "[heap]");
  int segs = 0;
  uint64_t unit = 1ull << v->ti.segment_shift;
  for (uint64_t a = ts & ~(unit - 1); a < te && segs < 1000000; a += unit)
    segs += map_tide_unit_class(v, a >> v->ti.segment_shift) == 1;
  r->nsegs = segs;
  util_fmt(r->title, sizeof r->title, "tidemalloc brk heap [heap]");
  detail(r, "heap_start 0x%llx, heap_break 0x%llx", (unsigned long long)v->ti.heap_start,
         (unsigned long long)v->ti.heap_break);
  detail(r, "%d segment%s of %s; peak break 0x%llx", segs, segs == 1 ? "" : "s", util_sz(unit),
         (unsigned long long)v->ti.heap_peak_break);
  if (hb < e) {
    r = add_region(am, hb, e, RK_HEAP, "[heap]");
    util_fmt(r->title, sizeof r->title, "brk heap [heap], above tidemalloc's break");
    detail(r, "moved by another sbrk user (or not yet lowered)");
  }
}

/* Extends the last region when it is the same kind (and name) and touches. */
static struct region *extend_or_add(struct address_map *am, uint64_t s, uint64_t e,
                                    enum region_kind k, const char *name, int new_mapping) {
  struct region *last = am->n ? &am->r[am->n - 1] : NULL;
  if (last && last->kind == k && last->end == s && strcmp(last->name, name) == 0) {
    last->end = e;
    last->nmaps += new_mapping;
    return last;
  }
  return add_region(am, s, e, k, name);
}

/* Anonymous mapping mp, cut into tidemalloc's intervals and the rest.
 * *next is the first owned interval not yet passed. */
static void add_anon(struct address_map *am, const struct mapping *mp, struct tide_view *v,
                     const struct owned *o, size_t no, size_t *next) {
  const char *name = mp->path;
  if (!v->ok) {
    /* Without the bitmaps, tidemalloc's mappings are known by their names. */
    enum region_kind k = !strstr(name, "tidemalloc") ? RK_ANON
                         : strstr(name, "huge")      ? RK_TIDE_LARGE
                         : strstr(name, "segment")   ? RK_TIDE_SEG
                                                     : RK_TIDE_META;
    extend_or_add(am, mp->start, mp->end, k, name, 1);
    return;
  }
  enum region_kind other = strstr(name, "tidemalloc") ? RK_TIDE_META : RK_ANON;
  uint64_t a = mp->start;
  int first = 1;
  while (a < mp->end) {
    while (*next < no && o[*next].end <= a)
      ++*next;
    const struct owned *w = *next < no ? &o[*next] : NULL;
    if (!w || w->start >= mp->end) {
      extend_or_add(am, a, mp->end, other, name, first);
      break;
    }
    if (w->start > a) {
      extend_or_add(am, a, w->start, other, name, first);
      first = 0;
      a = w->start;
      continue;
    }
    /* Inside interval w, up to its end or the mapping's. */
    uint64_t b = w->end < mp->end ? w->end : mp->end;
    struct region *last = am->n ? &am->r[am->n - 1] : NULL;
    if (a > w->start && last && last->end == a &&
        (last->kind == RK_TIDE_SEG || last->kind == RK_TIDE_LARGE)) {
      last->end = b; /* the same segment, over a second mapping */
      last->nmaps += first;
    } else {
      struct region *r = add_region(am, a, b, w->large ? RK_TIDE_LARGE : RK_TIDE_SEG, "");
      r->nsegs = 1;
    }
    first = 0;
    a = b;
  }
}

/* Merges touching regions of the same kind (and name) into one box. */
static void merge(struct address_map *am) {
  size_t out = 0;
  for (size_t i = 0; i < am->n; i++) {
    struct region *r = &am->r[i];
    if (out > 0) {
      struct region *p = &am->r[out - 1];
      int same = p->end == r->start && p->kind == r->kind && p->ndetail == 0 && r->ndetail == 0;
      if ((r->kind == RK_ANON || r->kind == RK_TIDE_META) && strcmp(p->name, r->name) != 0)
        same = 0;
      if (same && (r->kind == RK_TIDE_SEG || r->kind == RK_TIDE_LARGE || r->kind == RK_ANON ||
                   r->kind == RK_TIDE_META || r->kind == RK_KERNEL || r->kind == RK_FILE)) {
        if (r->kind == RK_KERNEL || r->kind == RK_FILE) {
          size_t l = strlen(p->name);
          const char *add = r->kind == RK_FILE ? base_name(r->name) : r->name;
          if (r->kind == RK_FILE && p->nsegs == 1) {
            /* From here on the name is a list of base names. */
            memmove(p->name, base_name(p->name), strlen(base_name(p->name)) + 1);
            l = strlen(p->name);
          }
          util_fmt(p->name + l, sizeof p->name - l, "%s%s", r->kind == RK_FILE ? ", " : " ", add);
          if (r->kind == RK_FILE) {
            /* Keep the longest directory both live under. */
            size_t k = 0;
            while (p->dir[k] && p->dir[k] == r->dir[k])
              k++;
            if (p->dir[k] || (r->dir[k] && r->dir[k] != '/')) {
              while (k > 0 && p->dir[k] != '/')
                k--;
              p->dir[k ? k : 1] = 0;
            }
          }
        }
        p->end = r->end;
        p->nmaps += r->nmaps;
        p->nsegs += r->nsegs;
        continue;
      }
    }
    if (out != i)
      am->r[out] = *r;
    out++;
  }
  am->n = out;
}

/* "rw-p 8.0 MiB, ---p 4.0 KiB (guard pages)": bytes by permissions. */
static void perms_detail(struct region *r, const struct mapping *m, size_t n) {
  char names[8][5];
  uint64_t by[8] = {0};
  size_t kinds = 0;
  for (size_t i = 0; i < n; i++) {
    if (m[i].end <= r->start || m[i].start >= r->end)
      continue;
    uint64_t s = m[i].start > r->start ? m[i].start : r->start;
    uint64_t e = m[i].end < r->end ? m[i].end : r->end;
    size_t k = 0;
    while (k < kinds && strcmp(names[k], m[i].perms) != 0)
      k++;
    if (k == kinds) {
      if (kinds == 8)
        k = 7; /* more kinds than fit: count with the last */
      else
        util_fmt(names[kinds++], sizeof names[0], "%s", m[i].perms);
    }
    by[k] += e - s;
  }
  char line[REGION_TEXT] = "";
  size_t len = 0;
  for (size_t k = 0; k < kinds && len < sizeof line; k++)
    len += (size_t)util_fmt(line + len, sizeof line - len, "%s%s %s%s", len ? ", " : "", names[k],
                            util_sz(by[k]), strcmp(names[k], "---p") == 0 ? " (guard pages)" : "");
  detail(r, "%s", line);
}

/* Threads' stacks: a small no-access guard right below a large rw-p mapping. */
static void stacks_detail(struct region *r, const struct mapping *m, size_t n) {
  int stacks = 0;
  for (size_t i = 0; i + 1 < n; i++)
    if (m[i].start >= r->start && m[i + 1].end <= r->end && strcmp(m[i].perms, "---p") == 0 &&
        m[i].end - m[i].start <= 65536 && m[i + 1].start == m[i].end &&
        strcmp(m[i + 1].perms, "rw-p") == 0 && m[i + 1].end - m[i + 1].start >= (1u << 20))
      stacks++;
  if (stacks)
    detail(r, "%d look%s like threads' stacks (a guard page below each)", stacks,
           stacks == 1 ? "s" : "");
}

static void describe(struct address_map *am, const struct mapping *m, size_t n,
                     struct tide_view *v) {
  uint64_t unit = v->ok ? 1ull << v->ti.segment_shift : 0;
  for (size_t i = 0; i < am->n; i++) {
    struct region *r = &am->r[i];
    switch (r->kind) {
    case RK_STACK:
      util_fmt(r->title, sizeof r->title, "stack [stack]");
      detail(r, "the main thread's stack; it grows down");
      break;
    case RK_KERNEL:
      util_fmt(r->title, sizeof r->title, "%s", r->name);
      detail(r, "%s",
             strstr(r->name, "vsyscall") ? "legacy kernel entry for old system calls"
                                         : "kernel data and code for fast system calls");
      break;
    case RK_FILE:
      if (r->nsegs > 1) {
        util_fmt(r->title, sizeof r->title, "file mappings (%d) under %s", r->nsegs, r->dir);
        detail(r, "%s", r->name);
      }
      perms_detail(r, m, n);
      break;
    case RK_ANON:
      util_fmt(r->title, sizeof r->title, "anonymous mapping%s%s%s", r->nmaps > 1 ? "s" : "",
               r->name[0] ? " " : "", r->name);
      if (r->nmaps > 1) {
        size_t l = strlen(r->title);
        util_fmt(r->title + l, sizeof r->title - l, " (%d)", r->nmaps);
      }
      perms_detail(r, m, n);
      stacks_detail(r, m, n);
      break;
    case RK_TIDE_SEG:
    case RK_TIDE_LARGE:
      if (!v->ok) {
        util_fmt(r->title, sizeof r->title, "tidemalloc %s %s",
                 r->kind == RK_TIDE_SEG ? "segments" : "large blocks", r->name);
        detail(r, "known by the mapping's name (tidemalloc's bitmaps were not read)");
        break;
      }
      if (r->kind == RK_TIDE_LARGE) {
        util_fmt(r->title, sizeof r->title, "tidemalloc large block%s", r->nsegs > 1 ? "s" : "");
        if (r->nsegs > 1) {
          size_t l = strlen(r->title);
          util_fmt(r->title + l, sizeof r->title - l, " (%d)", r->nsegs);
        }
        detail(r, "a mapping of its own per block (requests >= mmap_threshold)");
        break;
      }
      util_fmt(r->title, sizeof r->title, "tidemalloc segment%s", r->nsegs > 1 ? "s" : "");
      if (r->nsegs > 1) {
        size_t l = strlen(r->title);
        util_fmt(r->title + l, sizeof r->title - l, " (%d)", r->nsegs);
      }
      detail(r, "mmap'd segment%s of %s for small and medium objects", r->nsegs > 1 ? "s" : "",
             util_sz(unit));
      break;
    case RK_TIDE_META:
      util_fmt(r->title, sizeof r->title, "tidemalloc metadata %s", r->name);
      detail(r, "tidemalloc's own bookkeeping (thread heaps), not handed out");
      break;
    default:
      break;
    }
  }
}

static void build(struct address_map *am, struct mapping *m, size_t n, struct tide_view *v) {
  char exe[PATH_MAX], procpath[64];
  util_fmt(procpath, sizeof procpath, "/proc/%ld/exe", am->pid);
  ssize_t len = readlink(procpath, exe, sizeof exe - 1);
  exe[len > 0 ? len : 0] = 0;
  struct owned *owned;
  size_t nowned = map_tide_owned(m, n, v, &owned), next_owned = 0;
  for (size_t i = 0; i < n;) {
    struct mapping *mp = &m[i];
    size_t j = i;
    am->total += mp->end - mp->start;
    if (is_file(mp)) {
      while (j + 1 < n && strcmp(m[j + 1].path, mp->path) == 0 && m[j + 1].start == m[j].end) {
        j++;
        am->total += m[j].end - m[j].start;
      }
      /* The anonymous rw-p mapping right after a file's data is its bss. */
      if (j + 1 < n && m[j + 1].path[0] == 0 && m[j + 1].start == m[j].end &&
          m[j].perms[1] == 'w' && strcmp(m[j + 1].perms, "rw-p") == 0 &&
          !map_tide_in_owned(owned, nowned, m[j + 1].start)) {
        j++;
        am->total += m[j].end - m[j].start;
      }
      add_file(am, m, i, j, exe);
    } else if (strcmp(mp->path, "[heap]") == 0) {
      while (j + 1 < n && strcmp(m[j + 1].path, "[heap]") == 0) {
        j++;
        am->total += m[j].end - m[j].start;
      }
      add_heap(am, m, i, j, v);
    } else if (strcmp(mp->path, "[stack]") == 0) {
      add_region(am, mp->start, mp->end, RK_STACK, mp->path);
    } else if (is_kernel(mp)) {
      add_region(am, mp->start, mp->end, RK_KERNEL, mp->path);
    } else {
      add_anon(am, mp, v, owned, nowned, &next_owned);
    }
    i = j + 1;
  }
  free(owned);
  merge(am);
  describe(am, m, n, v);
}

int cmd_map(int argc, char **argv) {
  const char *svg = NULL, *target = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (util_is_help(a)) {
      map_usage(stdout);
      return 0;
    }
    if (util_opt_value(argc, argv, &i, "--svg", NULL, &svg))
      continue;
    if (strcmp(a, "--") == 0 && i + 1 < argc && !target) {
      target = argv[++i];
      continue;
    }
    if (a[0] == '-' && a[1])
      util_usage_error("map: unknown option '%s' (try 'tide map --help')", a);
    if (target)
      util_usage_error("map: one process at a time ('%s' and '%s')", target, a);
    target = a;
  }
  if (!target)
    util_usage_error("map: which process? (usage: tide map PID|self [--svg FILE])");
  struct address_map am;
  memset(&am, 0, sizeof am);
  if (strcmp(target, "self") == 0) {
    am.pid = (long)getpid();
  } else {
    char *end;
    errno = 0;
    long pid = strtol(target, &end, 10);
    if (errno || *end || end == target || pid <= 0)
      util_usage_error("map: '%s' is not a process id (a positive number, or 'self')", target);
    am.pid = pid;
  }
  struct mapping *m;
  size_t n = read_maps(am.pid, &m);
  if (n == 0)
    util_die("map: process %ld has no mappings (a kernel thread, or it has exited)", am.pid);
  am.nmappings = (int)n;
  char path[64];
  util_fmt(path, sizeof path, "/proc/%ld/comm", am.pid);
  char *comm = util_read_file(path, NULL);
  if (comm) {
    comm[strcspn(comm, "\n")] = 0;
    util_fmt(am.comm, sizeof am.comm, "%s", comm);
    free(comm);
  }
  struct tide_view v;
  memset(&v, 0, sizeof v);
  v.memfd = -1;
  map_tide_find(&am, m, n, &v);
  build(&am, m, n, &v);
  if (v.memfd >= 0)
    close(v.memfd);
  if (svg) {
    struct strbuf sb = {0};
    map_draw_svg(&am, &sb);
    sb_write_file(&sb, svg);
    sb_free(&sb);
  }
  if (!svg || strcmp(svg, "-") != 0)
    map_draw_text(&am, stdout);
  for (size_t i = 0; i < n; i++)
    free(m[i].path);
  free(m);
  free(am.r);
  return 0;
}
