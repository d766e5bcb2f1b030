/*
 * raw_peer - a misbehaving TCP peer for the integration tests: connects to 127.0.0.1:PORT,
 * sends the given bytes, then waits for the other side to close the connection.
 *
 * Usage: raw_peer PORT [--hex HEX | --file PATH]... [--half-close] [--timeout-ms N]
 *
 *   --hex HEX      bytes to send, as hex digits (spaces allowed: "00 00 00 07 0a")
 *   --file PATH    bytes to send, the contents of PATH
 *   --half-close   shut down the sending side right after sending (the peer reads end of
 *                  stream: the truncated-frame case), then wait as below
 *   --timeout-ms N how long to wait for the peer to close the connection (default 10000)
 *
 * It reads (and discards) whatever the peer sends until the peer closes the connection,
 * and prints "closed <eof|reset> after <ms> ms (<bytes> bytes read)",
 * exit 0; if the peer keeps it open for the whole timeout, prints "open after <ms> ms" and
 * exits 3. Sending into a connection the peer already closed is not an error (a daemon may
 * close as soon as it has seen enough garbage): the peer closing is what is being tested.
 * Exit 2: usage or connect error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Appends the bytes of hex to *buf; -1 on a malformed string. */
static int add_hex(unsigned char **buf, size_t *len, size_t *cap, const char *hex)
{
	int hi = -1;
	for (const char *p = hex; *p; p++) {
		if (*p == ' ' || *p == ':')
			continue;
		int v = hexval((unsigned char)*p);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (*len == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*buf = realloc(*buf, *cap);
			if (!*buf)
				return -1;
		}
		(*buf)[(*len)++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0 ? 0 : -1;
}

static int add_file(unsigned char **buf, size_t *len, size_t *cap, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	int ch;
	while ((ch = getc(f)) != EOF) {
		if (*len == *cap) {
			*cap = *cap ? *cap * 2 : 4096;
			*buf = realloc(*buf, *cap);
			if (!*buf) {
				fclose(f);
				return -1;
			}
		}
		(*buf)[(*len)++] = (unsigned char)ch;
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: raw_peer PORT [--hex HEX | --file PATH]... [--half-close] "
		                "[--timeout-ms N]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int port = atoi(argv[1]);
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	int half_close = 0;
	long timeout_ms = 10000;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--hex") == 0 && i + 1 < argc) {
			if (add_hex(&buf, &len, &cap, argv[++i]) < 0) {
				fprintf(stderr, "raw_peer: bad hex '%s'\n", argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
			if (add_file(&buf, &len, &cap, argv[++i]) < 0) {
				fprintf(stderr, "raw_peer: cannot read '%s'\n", argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--half-close") == 0) {
			half_close = 1;
		} else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
			timeout_ms = atol(argv[++i]);
		} else {
			fprintf(stderr, "raw_peer: bad argument '%s'\n", argv[i]);
			return 2;
		}
	}

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "raw_peer: cannot connect to 127.0.0.1:%d: %s\n", port,
		        strerror(errno));
		return 2;
	}
	long long t0 = now_ms();
	size_t off = 0;
	while (off < len) {
		ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break; /* the peer closed already */
		off += (size_t)w;
	}
	free(buf);
	if (half_close)
		shutdown(fd, SHUT_WR); /* a FIN, not a reset: unread bytes stay unread */

	long long deadline = t0 + timeout_ms;
	long long got = 0;
	char rbuf[4096];
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0) {
			printf("open after %lld ms\n", now_ms() - t0);
			return 3;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		ssize_t r = recv(fd, rbuf, sizeof rbuf, 0);
		if (r > 0) {
			got += r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		printf("closed %s after %lld ms (%lld bytes read)\n", r == 0 ? "eof" : "reset",
		       now_ms() - t0, got);
		close(fd);
		return 0;
	}
}
