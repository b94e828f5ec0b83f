/* SPDX-License-Identifier: MIT */
/* run.c — `tide run`: run a command with tidemalloc preloaded and report.
 *
 * The command gets LD_PRELOAD=<abs path of libtidemalloc.so>[:<old LD_PRELOAD>]
 * and TIDEMALLOC_OPTIONS=[<old>,]stats=json,stats_file=<tmp>[,trace=<file>].
 * Every process that loads the library appends one JSON object (one line)
 * to the stats file at exit; after the command ends we read them all and
 * summarise the direct child's (summary.c).
 */
#define _GNU_SOURCE /* pipe2 */
#include "tide.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

void run_usage(FILE *f) {
  fputs("usage: tide run [--trace FILE] [--json] [-o FILE] [--] CMD [ARGS...]\n"
        "\n"
        "Run CMD with tidemalloc preloaded (LD_PRELOAD) and, when it exits, print on\n"
        "stderr where its memory came from: the brk heap (peak, final), mappings,\n"
        "memory given back, OS calls, allocations, threads and the largest size classes.\n"
        "CMD's standard input, output and error are left alone.\n"
        "\n"
        "options:\n"
        "  -t, --trace FILE  also write a trace of every OS call to FILE\n"
        "                    (read it with 'tide report FILE')\n"
        "  --json            print the statistics as JSON (one object a line, one line\n"
        "                    per process) instead of the summary\n"
        "  -o, --output FILE write the summary (or JSON) to FILE instead of stderr\n"
        "  -h, --help        show this help and exit\n"
        "\n"
        "The library is the libtidemalloc.so(.0) next to the tide program, in ../lib\n"
        "or in the library folder tide was installed with;\n"
        "the environment variable TIDE_LIB names another.  Options already in\n"
        "TIDEMALLOC_OPTIONS are kept.  The exit status is CMD's, 128+N if a signal N\n"
        "killed it, 127 if it could not be found and 126 if it could not be run.\n",
        f);
}

/* Where libtidemalloc.so is: $TIDE_LIB, or beside /proc/self/exe, or ../lib. */
static void find_library(char *out, size_t outlen) {
  const char *env = getenv("TIDE_LIB");
  char path[PATH_MAX];
  if (env && *env) {
    if (!realpath(env, out))
      util_die("TIDE_LIB=%s: %s", env, strerror(errno));
    return;
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    util_die("cannot read /proc/self/exe: %s", strerror(errno));
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (slash)
    *slash = 0;
  /* The soname (what a runtime package installs) or the development link;
   * beside the program, in ../lib, and in the LIBDIR `make install` used. */
  static const char *const rel[] = {"libtidemalloc.so.0", "libtidemalloc.so",
                                    "../lib/libtidemalloc.so.0", "../lib/libtidemalloc.so"};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    util_fmt(path, sizeof path, "%s/%s", self, rel[i]);
    if (access(path, R_OK) == 0 && realpath(path, out) && strlen(out) < outlen)
      return;
  }
#ifdef TIDE_LIBDIR_REL /* LIBDIR as seen from BINDIR: the same tree moved or in a DESTDIR */
  util_fmt(path, sizeof path, "%s/%s/libtidemalloc.so.0", self, TIDE_LIBDIR_REL);
  if (access(path, R_OK) == 0 && realpath(path, out) && strlen(out) < outlen)
    return;
#endif
#ifdef TIDE_LIBDIR
  util_fmt(path, sizeof path, "%s/libtidemalloc.so.0", TIDE_LIBDIR);
  if (access(path, R_OK) == 0 && realpath(path, out) && strlen(out) < outlen)
    return;
#else
#define TIDE_LIBDIR "(none)"
#endif
  util_die("cannot find libtidemalloc.so in %s, %s/../lib or %s (build it with 'make', or "
           "set TIDE_LIB)",
           self, self, TIDE_LIBDIR);
}

/* An absolute version of path (the command may chdir before it opens it). */
static char *absolute(const char *path) {
  if (path[0] == '/')
    return util_xstrdup(path);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd))
    util_die("cannot get the current directory: %s", strerror(errno));
  struct strbuf sb = {0};
  sb_printf(&sb, "%s/%s", cwd, path);
  return sb.buf;
}

static pid_t child_pid;

static void forward_signal(int sig) {
  if (child_pid > 0)
    kill(child_pid, sig);
}

/* Reads every JSON object in the stats file; returns how many.  *lines gets
 * their text, one object a line (malformed lines are left out). */
static size_t read_stats(const char *path, struct json ***objs_out, struct strbuf *lines) {
  size_t len;
  char *text = util_read_file(path, &len);
  struct json **objs = NULL;
  size_t n = 0, bad = 0;
  if (text) {
    const char *p = text, *end = text + len;
    for (;;) {
      while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
      if (p >= end)
        break;
      char err[64];
      const char *start = p;
      struct json *v = json_parse(&p, end, err, sizeof err);
      if (!v || v->type != JSON_OBJ) {
        json_free(v);
        bad++;
        /* Skip to the next line and go on. */
        p = memchr(start, '\n', (size_t)(end - start));
        if (!p)
          break;
        continue;
      }
      objs = util_xrealloc(objs, (n + 1) * sizeof *objs);
      objs[n++] = v;
      sb_printf(lines, "%.*s\n", (int)(p - start), start);
    }
    free(text);
  }
  if (bad)
    util_warn("%zu malformed line%s in the statistics file skipped", bad, bad > 1 ? "s" : "");
  *objs_out = objs;
  return n;
}

int cmd_run(int argc, char **argv) {
  const char *trace = NULL, *output = NULL;
  int json = 0, i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (util_is_help(a)) {
      run_usage(stdout);
      return 0;
    }
    if (strcmp(a, "--json") == 0)
      json = 1;
    else if (util_opt_value(argc, argv, &i, "--trace", "-t", &trace))
      continue;
    else if (util_opt_value(argc, argv, &i, "--output", "-o", &output))
      continue;
    else if (a[0] == '-' && a[1])
      util_usage_error("run: unknown option '%s' (try 'tide run --help')", a);
    else
      break;
  }
  if (i >= argc)
    util_usage_error(
        "run: no command given (usage: tide run [--trace FILE] [--json] -- CMD [ARGS...])");
  char **cmd = argv + i;

  char lib[PATH_MAX];
  find_library(lib, sizeof lib);
  if (strpbrk(lib, " :\t"))
    util_die("the library path '%s' has a space or ':', which LD_PRELOAD cannot hold", lib);

  char *trace_abs = NULL;
  if (trace) {
    trace_abs = absolute(trace);
    if (strchr(trace_abs, ','))
      util_usage_error("run: the trace path '%s' has a ',', which TIDEMALLOC_OPTIONS cannot hold",
                       trace_abs);
    /* Start the trace afresh, as strace -o does. */
    int fd = open(trace_abs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
      util_die("cannot write the trace file '%s': %s", trace, strerror(errno));
    close(fd);
  }

  const char *tmpdir = getenv("TMPDIR");
  if (!tmpdir || !*tmpdir || tmpdir[0] != '/' || strchr(tmpdir, ','))
    tmpdir = "/tmp";
  char stats_path[PATH_MAX];
  util_fmt(stats_path, sizeof stats_path, "%s/tide-stats-XXXXXX", tmpdir);
  int sfd = mkstemp(stats_path);
  if (sfd < 0)
    util_die("cannot create a statistics file in %s: %s", tmpdir, strerror(errno));
  close(sfd);

  FILE *out = stderr;
  if (output) {
    out = strcmp(output, "-") == 0 ? stdout : fopen(output, "w");
    if (!out) {
      unlink(stats_path);
      util_die("cannot write '%s': %s", output, strerror(errno));
    }
  }

  /* The environment of the command. */
  struct strbuf preload = {0}, opts = {0};
  const char *old = getenv("LD_PRELOAD");
  sb_puts(&preload, lib);
  if (old && *old)
    sb_printf(&preload, ":%s", old);
  old = getenv("TIDEMALLOC_OPTIONS");
  if (old && *old)
    sb_printf(&opts, "%s,", old);
  sb_printf(&opts, "stats=json,stats_file=%s", stats_path);
  if (trace_abs)
    sb_printf(&opts, ",trace=%s", trace_abs);

  /* waitpid needs SIGCHLD not ignored (a parent may have left it so). */
  signal(SIGCHLD, SIG_DFL);
  /* A close-on-exec pipe tells us whether exec failed, and why. */
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0)
    util_die("pipe: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    util_die("fork: %s", strerror(errno));
  if (pid == 0) {
    close(pfd[0]);
    setenv("LD_PRELOAD", preload.buf, 1);
    setenv("TIDEMALLOC_OPTIONS", opts.buf, 1);
    execvp(cmd[0], cmd);
    int e = errno;
    if (write(pfd[1], &e, sizeof e) < 0)
      _exit(127);
    _exit(e == ENOENT ? 127 : 126);
  }
  close(pfd[1]);
  child_pid = pid;
  /* Like system(): the terminal's ^C and ^\ reach the command; we wait for it
   * and then report.  A TERM or HUP sent to us is passed on. */
  struct sigaction ign = {0}, fwd = {0}, old_int, old_quit;
  ign.sa_handler = SIG_IGN;
  fwd.sa_handler = forward_signal;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  sigaction(SIGTERM, &fwd, NULL);
  sigaction(SIGHUP, &fwd, NULL);

  int exec_errno = 0;
  ssize_t r;
  do
    r = read(pfd[0], &exec_errno, sizeof exec_errno);
  while (r < 0 && errno == EINTR);
  close(pfd[0]);
  if (r != (ssize_t)sizeof exec_errno)
    exec_errno = 0;

  int status;
  struct rusage ru = {0};
  /* wait4: the kernel's peak resident set of the command, ru_maxrss, for the
   * summary beside what the library counts itself. */
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR)
      util_die("wait4: %s", strerror(errno));
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);

  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (exec_errno) {
    unlink(stats_path);
    util_warn("cannot run '%s': %s", cmd[0], strerror(exec_errno));
    return exec_errno == ENOENT ? 127 : 126;
  }

  struct json **objs;
  struct strbuf lines = {0};
  size_t n = read_stats(stats_path, &objs, &lines);
  unlink(stats_path);

  /* The command as one short line, for the summary's heading. */
  struct strbuf what = {0};
  for (char **c = cmd; *c && what.len < 200; c++) {
    if (c != cmd)
      sb_puts(&what, " ");
    sb_puts(&what, *c);
  }
  for (size_t k = 0; k < what.len; k++)
    if ((unsigned char)what.buf[k] < 0x20)
      what.buf[k] = ' ';
  if (what.len > 70) {
    what.buf[66] = 0;
    what.len = 66;
    sb_puts(&what, " ...");
  }

  fflush(stdout);
  /* Diagnostics go to stderr even when the summary goes to a file. */
  if (n == 0 && WIFSIGNALED(status)) {
    util_warn("'%s' was killed by signal %d (%s) before tidemalloc wrote its statistics", cmd[0],
              WTERMSIG(status), strsignal(WTERMSIG(status)));
  } else if (n == 0) {
    util_warn("no statistics from '%s': tidemalloc was not loaded or not used (a static or "
              "setuid program, one that clears LD_PRELOAD, leaves with _exit or never allocates)",
              cmd[0]);
  } else if (json) {
    /* The objects as the library wrote them: one line per process. */
    fputs(lines.buf, out);
  } else {
    char status_text[64];
    if (WIFEXITED(status))
      util_fmt(status_text, sizeof status_text, "exit status %d", code);
    else
      util_fmt(status_text, sizeof status_text, "killed by signal %d (%s)", WTERMSIG(status),
               strsignal(WTERMSIG(status)));
    summary_print(out, objs, n, (long)pid, what.buf, status_text, (long)ru.ru_maxrss);
  }
  if (trace_abs && !json)
    fprintf(out, "tide: trace written to %s (see: tide report %s)\n", trace, trace);
  for (size_t k = 0; k < n; k++)
    json_free(objs[k]);
  free(objs);
  sb_free(&lines);
  sb_free(&what);
  sb_free(&preload);
  sb_free(&opts);
  free(trace_abs);
  if (out != stderr && out != stdout)
    fclose(out);
  return code;
}
