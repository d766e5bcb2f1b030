/*
 * line_server.c - a one-shot TCP text server for the socket source tests (instead of nc).
 *
 *   line_server FILE        listens on 127.0.0.1, port 0 (the kernel picks one), prints the
 *                           port on stdout, serves FILE to the first client, then closes the
 *                           connection and exits 0. Gives up (exit 1) if no client comes
 *                           within 60 seconds.
 *   line_server FILE --hold-until PATH SECONDS
 *                           the same, but after sending FILE keeps the connection open until
 *                           PATH exists (polled every 10 ms) or SECONDS pass; exits 0 if PATH
 *                           appeared, 3 if it did not. Used to check that rows are flushed
 *                           downstream while the stream is still open (buffer timeout).
 *   line_server --free-port prints a port on 127.0.0.1 that nothing listens on (bound and
 *                           released at once) and exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ACCEPT_TIMEOUT_MS 60000

static int listen_loopback(int *port)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(addr.sin_port);
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Waits until `path` exists or `seconds` pass; returns 0 if it appeared. */
static int wait_for_file(const char *path, long seconds)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	struct stat st;
	for (long i = 0; i < seconds * 100; i++) {
		if (stat(path, &st) == 0)
			return 0;
		nanosleep(&tick, NULL);
	}
	return -1;
}

int main(int argc, char **argv)
{
	int port, lfd, cfd;
	FILE *in;
	char buf[65536];
	size_t n;
	const char *hold_path = NULL;
	long hold_seconds = 0;

	if (argc == 5 && strcmp(argv[2], "--hold-until") == 0) {
		hold_path = argv[3];
		hold_seconds = atol(argv[4]);
	} else if (argc != 2) {
		fprintf(stderr,
		        "usage: line_server FILE [--hold-until PATH SECONDS] | --free-port\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_loopback(&port);
	if (lfd < 0) {
		fprintf(stderr, "line_server: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		return 1;
	}
	if (strcmp(argv[1], "--free-port") == 0) {
		close(lfd);
		printf("%d\n", port);
		return 0;
	}
	in = fopen(argv[1], "rb");
	if (in == NULL) {
		fprintf(stderr, "line_server: cannot open '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	printf("%d\n", port);
	fflush(stdout);

	struct pollfd pfd = {.fd = lfd, .events = POLLIN};
	int rc = poll(&pfd, 1, ACCEPT_TIMEOUT_MS);
	if (rc <= 0) {
		fprintf(stderr, "line_server: no client within %d ms\n", ACCEPT_TIMEOUT_MS);
		return 1;
	}
	cfd = accept(lfd, NULL, NULL);
	if (cfd < 0) {
		fprintf(stderr, "line_server: accept failed: %s\n", strerror(errno));
		return 1;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (write_all(cfd, buf, n) < 0) {
			fprintf(stderr, "line_server: write failed: %s\n", strerror(errno));
			return 1;
		}
	}
	fclose(in);
	rc = 0;
	if (hold_path != NULL && wait_for_file(hold_path, hold_seconds) < 0) {
		fprintf(stderr, "line_server: '%s' did not appear within %ld s\n", hold_path,
		        hold_seconds);
		rc = 3;
	}
	close(cfd);
	close(lfd);
	return rc;
}
