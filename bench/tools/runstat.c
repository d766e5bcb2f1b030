/*
 * runstat.c - runs a command and reports its wall time, CPU time and peak RSS, from
 * wait4()'s rusage: a dependency-free stand-in for `/usr/bin/time -v` with output the
 * harness can parse.
 *
 * Usage: runstat STATFILE COMMAND [ARGS...]. The command's stdin, stdout and stderr are
 * inherited. STATFILE gets one line "wall_ms=<ms> user_ms=<ms> sys_ms=<ms> maxrss_kb=<kB>
 * exit=<status>" (exit is 128 + signal number for a killed command). runstat exits with
 * the command's exit status.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_clock.h"

static double tv_ms(struct timeval tv)
{
	return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	uint64_t t0, t1;
	int status, code;
	pid_t pid;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: runstat STATFILE COMMAND [ARGS...]\n");
		return 2;
	}
	fflush(NULL);
	t0 = bench_now_ns();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "runstat: cannot fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "runstat: cannot run '%s': %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "runstat: wait4 failed: %s\n", strerror(errno));
			return 2;
		}
	}
	t1 = bench_now_ns();
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	f = fopen(argv[1], "w");
	if (!f) {
		fprintf(stderr, "runstat: cannot open '%s': %s\n", argv[1], strerror(errno));
		return 2;
	}
	fprintf(f, "wall_ms=%.3f user_ms=%.3f sys_ms=%.3f maxrss_kb=%ld exit=%d\n",
	        (double)(t1 - t0) / 1e6, tv_ms(ru.ru_utime), tv_ms(ru.ru_stime), ru.ru_maxrss,
	        code);
	if (fclose(f)) {
		fprintf(stderr, "runstat: cannot write '%s': %s\n", argv[1], strerror(errno));
		return 2;
	}
	return code;
}
