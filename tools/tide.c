/* SPDX-License-Identifier: MIT */
/* tide.c — the command-line tool of tidemalloc: dispatch, help, version. */
#include "tide.h"

#include <string.h>
#include <tidemalloc.h>

static void usage(FILE *f) {
  fputs("usage: tide COMMAND [ARGS...]\n"
        "\n"
        "See where a program's memory comes from, with tidemalloc.\n"
        "\n"
        "commands:\n"
        "  run [--trace FILE] [--json] [-o FILE] -- CMD [ARGS...]\n"
        "                 run CMD with libtidemalloc.so preloaded, then tell where its\n"
        "                 memory came from (brk heap, mappings, what went back)\n"
        "  map PID|self [--svg FILE]\n"
        "                 draw a process's address space, high addresses on top,\n"
        "                 marking the memory tidemalloc owns\n"
        "  report TRACE [--svg FILE]\n"
        "                 summarise a trace file (TIDEMALLOC_OPTIONS=trace=FILE) and chart\n"
        "                 the break height and the mapped bytes over time\n"
        "  help [COMMAND] show this help, or a command's\n"
        "\n"
        "options:\n"
        "  -h, --help     show this help and exit\n"
        "  --version      show the version and exit\n"
        "\n"
        "Exit status: 0 on success, 1 when a file or process cannot be read, 2 for bad\n"
        "arguments; 'tide run' exits with the command's status (128+N if killed by signal N).\n"
        "See tide(1), and tidemalloc(3) and docs/options.md for TIDEMALLOC_OPTIONS.\n",
        f);
}

static int help_for(const char *cmd) {
  if (strcmp(cmd, "run") == 0)
    run_usage(stdout);
  else if (strcmp(cmd, "map") == 0)
    map_usage(stdout);
  else if (strcmp(cmd, "report") == 0)
    report_usage(stdout);
  else if (strcmp(cmd, "help") == 0)
    usage(stdout);
  else
    util_usage_error("help: unknown command '%s' (commands: run, map, report)", cmd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (util_is_help(cmd)) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
    printf("tide %s (tidemalloc %s)\n", TIDE_TOOL_VERSION, TIDEMALLOC_VERSION_STRING);
    return 0;
  }
  if (strcmp(cmd, "help") == 0) {
    if (argc > 3)
      util_usage_error("help: too many arguments");
    if (argc == 3)
      return help_for(argv[2]);
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "run") == 0)
    return cmd_run(argc - 1, argv + 1);
  if (strcmp(cmd, "map") == 0)
    return cmd_map(argc - 1, argv + 1);
  if (strcmp(cmd, "report") == 0)
    return cmd_report(argc - 1, argv + 1);
  if (cmd[0] == '-')
    util_usage_error("unknown option '%s' (try 'tide --help')", cmd);
  util_usage_error("unknown command '%s' (commands: run, map, report; try 'tide --help')", cmd);
}
