/* SPDX-License-Identifier: MIT */
/* tide — the command-line tool of tidemalloc.
 *
 * One header for the tool's few files.  Functions are named after the file
 * that defines them (util_* in util.c, json_* in json.c, ...); the three
 * subcommands are cmd_run, cmd_map and cmd_report.
 *
 * Exit statuses: 0 success; 1 a runtime failure (a file or process that
 * cannot be read); 2 bad arguments (one line "tide: ..." on stderr).
 * `tide run` exits with the command's status instead.
 */
#ifndef TIDE_TOOL_H
#define TIDE_TOOL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TIDE_TOOL_VERSION "0.1.0"

/* ---- util.c --------------------------------------------------------------- */
/* Print "tide: <msg>" on stderr and exit 2 (bad arguments). */
void util_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print "tide: <msg>" on stderr and exit 1 (runtime failure). */
void util_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print "tide: <msg>" on stderr and go on. */
void util_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* snprintf that may truncate, on purpose (fixed-size labels). */
int util_fmt(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void *util_xmalloc(size_t n);
void *util_xrealloc(void *p, size_t n);
char *util_xstrdup(const char *s);

/* Human-readable size: "512 B", "4.0 KiB", "1.5 MiB" ... into buf. */
const char *util_size(uint64_t bytes, char *buf, size_t len);
/* Same, but into one of a few rotating static buffers (for printf args). */
const char *util_sz(uint64_t bytes);
/* Thousands-grouped decimal: 1234567 -> "1,234,567" (rotating buffers). */
const char *util_num(uint64_t n);

/* Read a whole file (or stdin for "-").  Returns NULL with errno set. */
char *util_read_file(const char *path, size_t *len);

/* A growing string. */
struct strbuf {
  char *buf;
  size_t len, cap;
};
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_puts(struct strbuf *sb, const char *s);
/* Append s with XML escaping (&, <, >, ", '). */
void sb_xml(struct strbuf *sb, const char *s);
void sb_free(struct strbuf *sb);
/* Write sb to path ("-" for stdout); util_die on failure. */
void sb_write_file(const struct strbuf *sb, const char *path);

/* Is `a` one of the help flags (-h, --help)? */
int util_is_help(const char *a);
/* Parse an option taking a value: "--name VALUE" or "--name=VALUE" (and
 * the short form when short_name is not NULL).  On a match stores the value,
 * advances *i past it and returns 1; a missing value is a usage error. */
int util_opt_value(int argc, char **argv, int *i, const char *name, const char *short_name,
                   const char **value);

/* ---- json.c ---------------------------------------------------------------- */
enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };
struct json {
  enum json_type type;
  char *key;          /* name, when this value is a member of an object */
  char *str;          /* JSON_STR */
  double num;         /* JSON_NUM, JSON_BOOL (0/1) */
  uint64_t u;         /* JSON_NUM: the exact value when is_uint */
  int is_uint;        /* JSON_NUM: written as an unsigned integer */
  struct json *child; /* JSON_ARR, JSON_OBJ: first element/member */
  struct json *next;  /* next sibling */
};
/* Parse one value starting at *p (skipping white space); on success advance
 * *p past it.  Returns NULL and an error message in err on failure. */
struct json *json_parse(const char **p, const char *end, char *err, size_t errlen);
void json_free(struct json *v);
const struct json *json_get(const struct json *obj, const char *key);
/* The unsigned value of member key (or of key.sub when sub is not NULL);
 * 0 when missing. */
uint64_t json_u64(const struct json *obj, const char *key, const char *sub);
const char *json_str(const struct json *obj, const char *key);

/* ---- elf.c ----------------------------------------------------------------- */
/* Find symbol `name` in the ELF file at path (.dynsym, then .symtab).
 * On success stores its st_value, the file's type (ET_EXEC/ET_DYN) and the
 * virtual address of its first PT_LOAD segment and returns 0; returns -1
 * with a reason in err otherwise. */
int elf_find_symbol(const char *path, const char *name, uint64_t *value, int *type,
                    uint64_t *first_load_vaddr, char *err, size_t errlen);

/* ---- svg.c ----------------------------------------------------------------- */
void svg_begin(struct strbuf *sb, int width, int height, const char *title);
void svg_end(struct strbuf *sb);
void svg_text(struct strbuf *sb, double x, double y, const char *anchor, const char *cls,
              const char *text);
void svg_rect(struct strbuf *sb, double x, double y, double w, double h, const char *fill,
              const char *stroke);
void svg_line(struct strbuf *sb, double x1, double y1, double x2, double y2, const char *stroke,
              double width, const char *dash);

/* ---- the subcommands --------------------------------------------------------- */
int cmd_run(int argc, char **argv);    /* run.c (+ summary.c) */
int cmd_map(int argc, char **argv);    /* map.c, map_draw.c */
int cmd_report(int argc, char **argv); /* report.c, report_svg.c */
void run_usage(FILE *f);
void map_usage(FILE *f);
void report_usage(FILE *f);

/* summary.c: print the human summary of a stats file's objects. */
/* maxrss_kib: the command's ru_maxrss from wait4 (the largest of it and of
 * the children it waited for), printed beside the library's figures. */
void summary_print(FILE *out, struct json **objs, size_t n, long child_pid, const char *what,
                   const char *status, long maxrss_kib);

#endif /* TIDE_TOOL_H */
