/*
 * maxrss.c - runs a command and reports its peak resident set size.
 *
 *   maxrss OUTFILE COMMAND [ARGS...]
 *
 * Runs COMMAND, waits for it, writes the peak RSS in KiB of the command and every process
 * it waited for (wait4's ru_maxrss, which covers reaped descendants, so `maxrss f timeout
 * 60 spate ...` measures spate) to OUTFILE, and exits with the command's exit status
 * (128 + N if it was killed by signal N). SIGTERM, SIGINT and SIGHUP are passed on to the
 * command, so `timeout` around maxrss stops the command too.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

int main(int argc, char **argv)
{
	struct rusage ru;
	int status;
	pid_t pid;
	FILE *out;

	if (argc < 3) {
		fprintf(stderr, "usage: maxrss OUTFILE COMMAND [ARGS...]\n");
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "maxrss: fork failed: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "maxrss: cannot run '%s': %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "maxrss: wait failed: %s\n", strerror(errno));
			return 1;
		}
	}
	out = fopen(argv[1], "w");
	if (out == NULL) {
		fprintf(stderr, "maxrss: cannot open '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	fprintf(out, "%ld\n", ru.ru_maxrss);
	fclose(out);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
