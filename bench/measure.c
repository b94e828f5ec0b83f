/* SPDX-License-Identifier: MIT */
/* measure: run one command and report its wall time and peak RSS.
 *
 *   measure RESULT TIMEOUT_S PRELOAD CMD [ARGS...]
 *
 * Forks, sets LD_PRELOAD=PRELOAD in the child only ("-" for none: the
 * program runs on glibc's malloc), execs CMD with the inherited stdin,
 * stdout and stderr, and waits for it with wait4.  Writes one line to the
 * file RESULT:
 *   <wall seconds> <peak RSS KiB> <exit code or 128+signal> <timed out 0/1>
 * The runner is written in Python, but a Python parent would put its own
 * resident set into the child's ru_maxrss (the child's memory before exec
 * counts, and Python spawns with vfork); this launcher is a few hundred KiB.
 * The launcher itself never runs on the allocator under test. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;
static pid_t child;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	kill(child, SIGKILL);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: measure RESULT TIMEOUT_S PRELOAD|- CMD [ARGS...]\n");
		return 64;
	}
	const char *result = argv[1];
	unsigned timeout = (unsigned)strtoul(argv[2], NULL, 10);
	const char *preload = argv[3];

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	child = fork();
	if (child < 0) {
		perror("measure: fork");
		return 70;
	}
	if (child == 0) {
		if (strcmp(preload, "-") == 0)
			unsetenv("LD_PRELOAD");
		else
			setenv("LD_PRELOAD", preload, 1);
		execvp(argv[4], argv + 4);
		fprintf(stderr, "measure: exec %s: %s\n", argv[4], strerror(errno));
		_exit(127);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	if (timeout)
		alarm(timeout);

	int status;
	struct rusage ru;
	pid_t r;
	while ((r = wait4(child, &status, 0, &ru)) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	alarm(0);
	if (r < 0) {
		perror("measure: wait4");
		return 70;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	FILE *f = fopen(result, "w");
	if (!f) {
		perror("measure: result file");
		return 70;
	}
	fprintf(f, "%.6f %ld %d %d\n", wall, ru.ru_maxrss, code, (int)timed_out);
	fclose(f);
	return 0;
}
