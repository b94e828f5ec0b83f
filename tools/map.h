/* SPDX-License-Identifier: MIT */
/* map.h — the regions `tide map` draws (map.c builds them, map_draw.c draws).
 *
 * A region is one box of the picture: a run of /proc/PID/maps lines that
 * belong together (one file's text/data/bss, the brk heap, adjacent
 * anonymous mappings, tidemalloc's segments).  Regions are kept in
 * ascending address order and never overlap; the space between two regions
 * that do not touch is unmapped and drawn folded.
 */
#ifndef TIDE_MAP_H
#define TIDE_MAP_H

#include <stdint.h>
#include <string.h>
#include <tidemalloc.h>

#include "tide.h"

enum region_kind {
  RK_STACK,      /* [stack] */
  RK_KERNEL,     /* [vdso], [vvar], [vsyscall] */
  RK_EXE,        /* the executable: text, data, bss */
  RK_LIB,        /* a shared library (any ELF file with code) */
  RK_TIDELIB,    /* libtidemalloc itself */
  RK_FILE,       /* other file mappings */
  RK_HEAP,       /* the brk heap, or the part of it that is not tidemalloc's */
  RK_TIDE_HEAP,  /* tidemalloc's brk heap: heap_start .. heap_break */
  RK_ANON,       /* anonymous mappings */
  RK_TIDE_SEG,   /* tidemalloc segments mapped with mmap */
  RK_TIDE_LARGE, /* tidemalloc large blocks (a mapping of their own) */
  RK_TIDE_META,  /* tidemalloc's own bookkeeping, known by the mapping's name */
  RK_COUNT
};

#define REGION_DETAILS 8
#define REGION_TEXT 200

struct region {
  uint64_t start, end; /* [start, end) */
  enum region_kind kind;
  int owned;              /* tidemalloc's memory */
  int nmaps;              /* /proc/PID/maps lines (or pieces of them) inside */
  int nsegs;              /* RK_TIDE_*: segments or blocks inside */
  char name[REGION_TEXT]; /* file path or [name]; used to merge neighbours */
  char dir[REGION_TEXT];  /* RK_FILE: the directory the merged files share */
  char title[REGION_TEXT];
  char detail[REGION_DETAILS][REGION_TEXT];
  int ndetail;
};

struct address_map {
  long pid;
  char comm[64];
  struct region *r;
  size_t n, cap;
  uint64_t total; /* bytes mapped */
  int nmappings;  /* lines of /proc/PID/maps */
  /* What we learnt about tidemalloc; note says what happened. */
  int tide_loaded; /* the library (or symbol) is in the process */
  int tide_read;   /* tide_introspect was read and is valid */
  char tide_note[512];
};

/* One line of /proc/PID/maps. */
struct mapping {
  uint64_t start, end, offset;
  char perms[5];
  char *path; /* "" for anonymous */
};

static inline int is_file(const struct mapping *m) { return m->path[0] == '/'; }
static inline int is_kernel(const struct mapping *m) {
  return strncmp(m->path, "[vdso", 5) == 0 || strncmp(m->path, "[vvar", 5) == 0 ||
         strcmp(m->path, "[vsyscall]") == 0 || strcmp(m->path, "[uprobes]") == 0;
}
static inline const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}
static inline int is_anon(const struct mapping *m) {
  return m->path[0] == 0 || strncmp(m->path, "[anon:", 6) == 0;
}

/* What we read of tidemalloc's introspection object (map_tide.c). */
struct tide_view {
  int ok;
  int memfd;
  struct tide_introspect ti;
  uint64_t word_idx[2], word_val[2];
  int word_ok[2];
};

/* A part of the anonymous mappings that tidemalloc owns: one per segment.
 * A large block's mapping may end inside its last unit (another mapping may
 * use the rest of the unit), so it ends where the mapping holding its start
 * ends. */
struct owned {
  uint64_t start, end;
  int large; /* a large block (several units, or less than one) */
};

/* map_tide.c */
/* Finds and reads tide_introspect in the process; fills v (v->ok when it
 * can be used) and am->tide_note (what happened, in words). */
void map_tide_find(struct address_map *am, const struct mapping *m, size_t n, struct tide_view *v);
/* 0: unit not tidemalloc's; 1: starts a segment; 2: continues one. */
int map_tide_unit_class(struct tide_view *v, uint64_t unit);
/* The intervals of the anonymous mappings that tidemalloc owns, ascending. */
size_t map_tide_owned(const struct mapping *m, size_t n, struct tide_view *v, struct owned **out);
int map_tide_in_owned(const struct owned *o, size_t no, uint64_t addr);

/* map_draw.c */
void map_draw_text(const struct address_map *am, FILE *out);
void map_draw_svg(const struct address_map *am, struct strbuf *sb);
const char *map_kind_name(enum region_kind k);

#endif /* TIDE_MAP_H */
