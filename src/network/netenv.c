/*
 * netenv.c - the data plane between TaskManagers: data server, one multiplexed TCP
 * connection per peer, credit-based flow control (see netenv.h for the protocol, the
 * threads and the lock order; data_frame.h for the wire format).
 */
#include "network/netenv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"

#define MAX_RECEIVERS 65536     /* receiver ids per connection */
#define MAX_CREDIT (1 << 20)    /* credit a subpartition may hold */
#define WRITE_BATCH 16          /* buffers per sendmsg */
#define CONNECT_TIMEOUT_MS 5000 /* connecting to a peer's data port */
#define READ_BUFFER_BYTES (2 * DATA_FRAME_MAX_BYTES)

struct conn;

/* Producer side: a remote subpartition, registered by its producer and/or requested by its
 * consumer (whichever comes first creates it). All fields guarded by ne->mu. */
struct outbound {
	struct outbound *next; /* in ne->outbounds */
	struct netenv *ne;
	struct partition_id id;
	struct subpartition *sp;     /* borrowed; NULL until registered */
	const atomic_bool *canceled; /* borrowed: the producer pool's flag */
	struct buffer *head, *tail;  /* queued for the network, not yet written */
	int nqueued;
	struct conn *conn; /* the consumer's connection; NULL until requested or once gone */
	uint32_t receiver; /* the consumer's channel id on conn */
	int credit;        /* buffers the consumer can take now */
	int inflight;      /* buffers the writer is writing */
	bool ready;        /* in conn's ready list */
	struct outbound *next_ready;
	bool dropped; /* consumer released it or its connection is gone: hand-overs recycled */
};

/* Marks a receiver id whose subpartition was released: its late frames are ignored. */
static struct outbound released_receiver;

/* Consumer side: one gate with remote channels. Guarded by ne->mu. */
struct remote_gate {
	struct remote_gate *next; /* in ne->gates */
	struct netenv *ne;
	struct input_gate *gate;     /* borrowed */
	struct buffer_pool floating; /* free list guarded by ne->mu (recycle_hook set) */
	struct remote_channel **chans;
	int nchans, cap;
	struct remote_channel **by_channel; /* gate channel index -> its remote channel or NULL */
	int rr;                             /* where the next floating buffer offer starts */
};

/* Consumer side: one remote input channel. Owned by its connection (it outlives its gate as
 * a tombstone, so late frames for it can be recognised). Guarded by ne->mu. */
struct remote_channel {
	struct netenv *ne;
	struct remote_gate *rg; /* NULL once released */
	struct conn *conn;
	uint32_t receiver; /* index in conn->chans */
	int channel;       /* index in the gate */
	struct partition_id id;
	struct buffer_pool exclusive; /* free list = free exclusive buffers (recycle_hook set) */
	struct buffer *floating;      /* floating buffers lent to this channel, free */
	int nfloating;
	int backlog;     /* the producer's last announced backlog */
	int unannounced; /* credit not yet sent */
	int credit_out;  /* credit sent and not yet used by an arriving buffer */
	int held;        /* buffers pushed into the gate and not yet recycled */
	bool need_request, need_cancel;
	bool ended, released, failed;
	bool pending; /* in conn's pending list */
	struct remote_channel *next_pending;
};

struct conn {
	struct conn *next; /* in ne->conns */
	struct netenv *ne;
	int fd;
	bool client;   /* opened by us: consumer side */
	char peer[96]; /* "host:port" for log lines */
	char host[64]; /* client: the peer's data host and port (the sharing key) */
	int port;
	pthread_t reader, writer;
	int nthreads;         /* threads created (reader, then writer); guarded by ne->mu */
	atomic_int exited;    /* threads that returned */
	pthread_cond_t wcond; /* the writer waits here (with ne->mu) */
	bool open;            /* handshake done; guarded by ne->mu */
	bool dead;            /* guarded by ne->mu */
	bool fail_logged;     /* guarded by ne->mu */
	/* server side: receiver id -> outbound (or &released_receiver) */
	struct outbound **by_receiver;
	uint32_t nby_receiver;
	struct outbound *ready_head, *ready_tail;
	/* client side */
	struct remote_channel **chans;
	uint32_t nchans, cap;
	struct remote_channel *pending_head, *pending_tail;
};

struct netenv {
	pthread_mutex_t connect_mu; /* serialises opening client connections; before mu */
	pthread_mutex_t mu;
	pthread_cond_t cond; /* progress of outbounds (unregister waits here) */
	int listen_fd;
	int port;
	int wake_pipe[2]; /* wakes the acceptor on stop */
	pthread_t acceptor;
	int buffers_per_channel;
	int floating_per_gate;
	atomic_int handshake_timeout_ms;
	bool stopping;      /* guarded by mu */
	int notifying;      /* guarded by mu: conn_fail calls in progress outside the lock */
	struct conn *conns; /* guarded by mu */
	struct outbound *outbounds;   /* guarded by mu */
	struct remote_gate *gates;    /* guarded by mu */
	netenv_failure_fn on_failure; /* guarded by mu */
	void *on_failure_arg;         /* guarded by mu */
};

static bool partition_id_equal(const struct partition_id *a, const struct partition_id *b)
{
	return memcmp(a->job_id, b->job_id, 16) == 0 && a->vertex == b->vertex &&
	       a->subtask == b->subtask && a->output == b->output &&
	       a->subpartition == b->subpartition;
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- socket helpers --------------------------------------------------------------------- */

/* Writes every byte of iov[0..n) (modifies iov). 0, or -errno. */
static int send_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

static int send_bytes(int fd, const void *p, size_t len)
{
	struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
	return send_all(fd, &iov, 1);
}

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static size_t encode_hello(uint8_t *out)
{
	struct data_frame f = {
	    .type = DATA_HELLO, .magic = DATA_PROTOCOL_MAGIC, .version = DATA_PROTOCOL_VERSION};
	return data_frame_encode(&f, out);
}

/* Checks a received HELLO; NULL if acceptable, else the problem. */
static const char *check_hello(const struct data_frame *f, char *why, size_t cap)
{
	if (f->type != DATA_HELLO) {
		snprintf(why, cap, "expected handshake, got %s frame",
		         data_frame_type_name(f->type));
		return why;
	}
	if (f->magic != DATA_PROTOCOL_MAGIC) {
		snprintf(why, cap, "bad handshake magic 0x%08x", f->magic);
		return why;
	}
	if (f->version != DATA_PROTOCOL_VERSION) {
		snprintf(why, cap, "protocol version %u, expected %u", f->version,
		         DATA_PROTOCOL_VERSION);
		return why;
	}
	return NULL;
}

/* ---- connection state (ne->mu held) ---------------------------------------------------- */

static bool outbound_sendable(const struct outbound *ob)
{
	return ob->conn && !ob->dropped && ob->credit > 0 && ob->head;
}

static void ready_append(struct conn *c, struct outbound *ob)
{
	ob->ready = true;
	ob->next_ready = NULL;
	if (c->ready_tail)
		c->ready_tail->next_ready = ob;
	else
		c->ready_head = ob;
	c->ready_tail = ob;
	pthread_cond_signal(&c->wcond);
}

static void ready_remove(struct conn *c, struct outbound *ob)
{
	if (!ob->ready)
		return;
	struct outbound *prev = NULL;
	for (struct outbound *o = c->ready_head; o; prev = o, o = o->next_ready) {
		if (o != ob)
			continue;
		if (prev)
			prev->next_ready = o->next_ready;
		else
			c->ready_head = o->next_ready;
		if (c->ready_tail == o)
			c->ready_tail = prev;
		break;
	}
	ob->ready = false;
	ob->next_ready = NULL;
}

static void maybe_ready(struct outbound *ob)
{
	if (!ob->ready && outbound_sendable(ob))
		ready_append(ob->conn, ob);
}

/* Takes every queued buffer off ob (to be recycled by the caller after unlocking). */
static struct buffer *outbound_take_queue(struct outbound *ob)
{
	struct buffer *q = ob->head;
	ob->head = ob->tail = NULL;
	ob->nqueued = 0;
	return q;
}

static void recycle_list(struct buffer *b)
{
	while (b) {
		struct buffer *next = b->next;
		buffer_recycle(b);
		b = next;
	}
}

static void outbound_unlink(struct netenv *ne, struct outbound *ob)
{
	for (struct outbound **p = &ne->outbounds; *p; p = &(*p)->next)
		if (*p == ob) {
			*p = ob->next;
			break;
		}
}

/* The consumer is gone (cancel or connection lost): hand-overs are dropped from now on. A
 * never-registered outbound is freed. Returns the queued buffers to recycle. */
static struct buffer *outbound_drop(struct netenv *ne, struct outbound *ob)
{
	if (ob->conn) {
		ready_remove(ob->conn, ob);
		if (ob->receiver < ob->conn->nby_receiver)
			ob->conn->by_receiver[ob->receiver] = &released_receiver;
	}
	ob->conn = NULL;
	ob->dropped = true;
	struct buffer *q = outbound_take_queue(ob);
	if (!ob->sp && ob->inflight == 0) {
		outbound_unlink(ne, ob);
		xfree(ob);
	}
	pthread_cond_broadcast(&ne->cond);
	return q;
}

static int channel_free_buffers(const struct remote_channel *rc)
{
	return rc->exclusive.nfree + rc->nfloating;
}

static bool channel_wants_floating(const struct netenv *ne, const struct remote_channel *rc)
{
	return !rc->ended && !rc->released && !rc->failed &&
	       channel_free_buffers(rc) < rc->backlog + ne->buffers_per_channel;
}

static void pending_append(struct conn *c, struct remote_channel *rc)
{
	if (rc->pending)
		return;
	rc->pending = true;
	rc->next_pending = NULL;
	if (c->pending_tail)
		c->pending_tail->next_pending = rc;
	else
		c->pending_head = rc;
	c->pending_tail = rc;
	pthread_cond_signal(&c->wcond);
}

/*
 * Queues rc's unannounced credit for the writer once it is at least the work the consumer
 * still has coming on this channel: the producer's credit plus the buffers the task has not
 * recycled yet. In a steady stream that is about half of the channel's buffers per credit
 * frame, not one frame (and one wake-up on each side) per buffer; when the producer has no
 * credit left and the task holds nothing, any credit goes at once, so flow never stops.
 * (Floating buffers a channel takes for its producer's backlog go out at once instead: see
 * request_floating.)
 */
static void maybe_announce(struct remote_channel *rc)
{
	if (rc->unannounced > 0 && rc->unannounced >= rc->credit_out + rc->held && !rc->ended &&
	    !rc->released && !rc->failed)
		pending_append(rc->conn, rc);
}

static void lend_floating(struct remote_channel *rc, struct buffer *b, bool now)
{
	b->next = rc->floating;
	rc->floating = b;
	rc->nfloating++;
	rc->unannounced++;
	if (now)
		pending_append(rc->conn, rc);
	else
		maybe_announce(rc);
}

/* A floating buffer is free again: lend it to a channel of its gate that wants one, or put
 * it back into the gate's pool. */
static void floating_returned(struct remote_gate *rg, struct buffer *b)
{
	for (int i = 0; i < rg->nchans; i++) {
		struct remote_channel *rc = rg->chans[(rg->rr + i) % rg->nchans];
		if (channel_wants_floating(rg->ne, rc)) {
			rg->rr = (rg->rr + i + 1) % rg->nchans;
			lend_floating(rc, b, false);
			return;
		}
	}
	b->next = rg->floating.free;
	rg->floating.free = b;
	rg->floating.nfree++;
}

/* Lends floating buffers to rc while it wants them and the gate has some, and announces
 * them at once: they are more buffers for a backlog the producer has now. Waiting for the
 * task to hold fewer (maybe_announce) would leave them unannounced for as long as it holds
 * its buffers, while no other channel of the gate can have them. */
static void request_floating(struct remote_channel *rc)
{
	struct remote_gate *rg = rc->rg;
	while (rg->floating.free && channel_wants_floating(rg->ne, rc)) {
		struct buffer *b = rg->floating.free;
		rg->floating.free = b->next;
		rg->floating.nfree--;
		lend_floating(rc, b, true);
	}
}

/* recycle_hook of a channel's exclusive buffers: the consuming task is done with b. */
static void exclusive_recycled(struct buffer_pool *p, struct buffer *b)
{
	struct remote_channel *rc = p->hook_arg;
	struct netenv *ne = rc->ne;
	pthread_mutex_lock(&ne->mu);
	b->next = p->free;
	p->free = b;
	p->nfree++;
	rc->held--;
	if (!rc->ended && !rc->released && !rc->failed) {
		if (rc->nfloating > 0 &&
		    channel_free_buffers(rc) > rc->backlog + ne->buffers_per_channel) {
			/* More than needed: keep the exclusive buffer in place of a lent floating
			 * one (the credit the producer holds does not change) and return that. */
			struct buffer *f = rc->floating;
			rc->floating = f->next;
			rc->nfloating--;
			floating_returned(rc->rg, f);
		} else {
			rc->unannounced++;
		}
		maybe_announce(rc);
	}
	pthread_mutex_unlock(&ne->mu);
}

/* recycle_hook of a gate's floating buffers. */
static void floating_recycled(struct buffer_pool *p, struct buffer *b)
{
	struct remote_gate *rg = p->hook_arg;
	struct netenv *ne = rg->ne;
	pthread_mutex_lock(&ne->mu);
	struct remote_channel *from = rg->by_channel[b->channel]; /* set by input_gate_push */
	floating_returned(rg, b);
	if (from) {
		from->held--;
		maybe_announce(from);
	}
	pthread_mutex_unlock(&ne->mu);
}

/* A failed channel to report after unlocking. */
struct failed_channel {
	struct input_gate *gate;
	int channel;
};

/*
 * Marks c dead (once): shuts the socket down so both threads stop, drops the subpartitions
 * it served, fails the channels it fed. Returns the buffers to recycle; *failed (returns new,
 * free with xfree) lists the channels to report.
 */
static struct buffer *conn_kill(struct netenv *ne, struct conn *c, struct failed_channel **failed,
                                int *nfailed)
{
	struct buffer *recycle = NULL;
	*failed = NULL;
	*nfailed = 0;
	if (c->dead)
		return NULL;
	c->dead = true;
	shutdown(c->fd, SHUT_RDWR);
	pthread_cond_broadcast(&c->wcond);
	for (uint32_t r = 0; r < c->nby_receiver; r++) {
		struct outbound *ob = c->by_receiver[r];
		if (!ob || ob == &released_receiver)
			continue;
		struct buffer *q = outbound_drop(ne, ob);
		while (q) {
			struct buffer *next = q->next;
			q->next = recycle;
			recycle = q;
			q = next;
		}
	}
	c->ready_head = c->ready_tail = NULL;
	for (uint32_t i = 0; i < c->nchans; i++) {
		struct remote_channel *rc = c->chans[i];
		if (rc->released || rc->ended || rc->failed)
			continue;
		rc->failed = true;
		if (!*failed)
			*failed = xcalloc(c->nchans, sizeof **failed);
		(*failed)[(*nfailed)++] = (struct failed_channel){rc->rg->gate, rc->channel};
	}
	return recycle;
}

/* Closes c after a problem (logged once, naming the peer). Called with no lock held. */
static void conn_fail(struct conn *c, bool warn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_fail(struct conn *c, bool warn, const char *fmt, ...)
{
	struct netenv *ne = c->ne;
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);

	/* The line is written before the socket is shut down, so that a peer seeing the close
	 * can rely on it being logged; fail_logged makes it one line per connection. */
	pthread_mutex_lock(&ne->mu);
	bool first = !c->dead && !c->fail_logged && !ne->stopping;
	c->fail_logged = true;
	pthread_mutex_unlock(&ne->mu);
	if (first) {
		if (warn)
			log_warn("data connection %s %s closed: %s", c->client ? "to" : "from",
			         c->peer, why);
		else
			log_info("data connection %s %s closed: %s", c->client ? "to" : "from",
			         c->peer, why);
	}

	struct failed_channel *failed;
	int nfailed;
	pthread_mutex_lock(&ne->mu);
	struct buffer *recycle = conn_kill(ne, c, &failed, &nfailed);
	netenv_failure_fn fn = ne->on_failure;
	void *arg = ne->on_failure_arg;
	ne->notifying++; /* netenv_release_gate waits for us: the gates stay valid */
	pthread_mutex_unlock(&ne->mu);
	recycle_list(recycle);
	for (int i = 0; i < nfailed; i++) {
		if (fn)
			fn(arg, failed[i].gate, failed[i].channel, why);
		input_gate_wake(failed[i].gate);
	}
	xfree(failed);
	pthread_mutex_lock(&ne->mu);
	ne->notifying--;
	pthread_cond_broadcast(&ne->cond);
	pthread_mutex_unlock(&ne->mu);
}

/* ---- frames ------------------------------------------------------------------------------ */

/* Acts on one frame from the peer (ne->mu held). NULL, or the protocol violation. *recycle
 * collects producer buffers to recycle after unlocking. */
static const char *handle_frame(struct conn *c, const struct data_frame *f, char *why, size_t cap,
                                struct buffer **recycle)
{
	struct netenv *ne = c->ne;
	if (f->type == DATA_HELLO)
		return "unexpected second handshake";
	if (c->client) {
		if (f->type != DATA_BUFFER) {
			snprintf(why, cap, "unexpected %s frame from a producer",
			         data_frame_type_name(f->type));
			return why;
		}
		if (f->receiver >= c->nchans) {
			snprintf(why, cap, "buffer for unknown channel %u", f->receiver);
			return why;
		}
		struct remote_channel *rc = c->chans[f->receiver];
		if (rc->released || rc->failed)
			return NULL; /* in flight when we released it */
		if (rc->ended) {
			snprintf(why, cap, "buffer after end of partition on channel %u",
			         f->receiver);
			return why;
		}
		struct buffer *b = rc->floating;
		if (b) {
			rc->floating = b->next;
			rc->nfloating--;
		} else if ((b = rc->exclusive.free)) {
			rc->exclusive.free = b->next;
			rc->exclusive.nfree--;
		} else {
			snprintf(why, cap, "buffer without credit on channel %u", f->receiver);
			return why;
		}
		memcpy(b->data, f->payload, f->payload_len);
		b->size = f->payload_len;
		b->kind = f->kind;
		b->next = NULL;
		rc->credit_out--;
		rc->held++;
		rc->backlog = f->backlog > INT32_MAX / 2 ? INT32_MAX / 2 : (int)f->backlog;
		if (f->kind == BUF_END_OF_PARTITION) {
			rc->ended = true;
			rc->unannounced = 0;
			while (rc->floating) {
				struct buffer *fb = rc->floating;
				rc->floating = fb->next;
				rc->nfloating--;
				floating_returned(rc->rg, fb);
			}
		}
		input_gate_push(rc->rg->gate, b, rc->channel);
		if (!rc->ended)
			request_floating(rc);
		return NULL;
	}

	/* server side: requests, credit and cancels from a consumer */
	if (f->receiver >= MAX_RECEIVERS) {
		snprintf(why, cap, "%s for receiver %u out of range", data_frame_type_name(f->type),
		         f->receiver);
		return why;
	}
	struct outbound *ob = f->receiver < c->nby_receiver ? c->by_receiver[f->receiver] : NULL;
	switch (f->type) {
	case DATA_PARTITION_REQUEST: {
		if (ob) {
			snprintf(why, cap, "duplicate partition request for receiver %u",
			         f->receiver);
			return why;
		}
		if (f->credit > MAX_CREDIT)
			return "initial credit too large";
		struct outbound *o = ne->outbounds;
		while (o && !partition_id_equal(&o->id, &f->partition))
			o = o->next;
		if (o && (o->conn || o->dropped)) {
			snprintf(why, cap, "subpartition %u.%u.%u.%u requested twice",
			         f->partition.vertex, f->partition.subtask, f->partition.output,
			         f->partition.subpartition);
			return why;
		}
		if (!o) { /* the producer has not registered yet: keep the request pending */
			o = xcalloc(1, sizeof *o);
			o->ne = ne;
			o->id = f->partition;
			o->next = ne->outbounds;
			ne->outbounds = o;
		}
		if (f->receiver >= c->nby_receiver) {
			uint32_t n = c->nby_receiver ? c->nby_receiver : 16;
			while (n <= f->receiver)
				n *= 2;
			c->by_receiver = xrealloc(c->by_receiver, n * sizeof *c->by_receiver);
			memset(c->by_receiver + c->nby_receiver, 0,
			       (n - c->nby_receiver) * sizeof *c->by_receiver);
			c->nby_receiver = n;
		}
		c->by_receiver[f->receiver] = o;
		o->conn = c;
		o->receiver = f->receiver;
		o->credit = (int)f->credit;
		maybe_ready(o);
		return NULL;
	}
	case DATA_ADD_CREDIT:
		if (!ob) {
			snprintf(why, cap, "credit for unknown receiver %u", f->receiver);
			return why;
		}
		if (ob == &released_receiver)
			return NULL;
		if (f->credit > (uint32_t)(MAX_CREDIT - ob->credit))
			return "credit overflow";
		ob->credit += (int)f->credit;
		maybe_ready(ob);
		return NULL;
	case DATA_CANCEL_PARTITION:
		if (!ob) {
			snprintf(why, cap, "cancel for unknown receiver %u", f->receiver);
			return why;
		}
		if (ob != &released_receiver) {
			struct buffer *q = outbound_drop(ne, ob);
			while (q) {
				struct buffer *next = q->next;
				q->next = *recycle;
				*recycle = q;
				q = next;
			}
		}
		return NULL;
	default:
		snprintf(why, cap, "unexpected %s frame from a consumer",
		         data_frame_type_name(f->type));
		return why;
	}
}

/* ---- reader ------------------------------------------------------------------------------ */

static void *reader_main(void *arg)
{
	struct conn *c = arg;
	struct netenv *ne = c->ne;
	char name[128];
	snprintf(name, sizeof name, "data-in %s", c->peer);
	log_set_thread_name(name);
	pthread_setname_np(pthread_self(), c->client ? "data-in-cons" : "data-in-prod");

	uint8_t *buf = xmalloc(READ_BUFFER_BYTES);
	size_t have = 0;
	bool handshaken = c->client; /* a client shook hands before its threads started */
	int64_t deadline = monotonic_ms() + atomic_load(&ne->handshake_timeout_ms);
	char why[160];

	for (;;) {
		size_t off = 0;
		const char *problem = NULL;
		struct buffer *recycle = NULL;
		bool locked = false;
		while (!problem) {
			struct data_frame f;
			size_t used;
			if (!handshaken && have - off >= 5 && buf[off + 4] != DATA_HELLO) {
				snprintf(why, sizeof why, "expected handshake, got frame type %u",
				         (unsigned)buf[off + 4]);
				problem = why;
				break;
			}
			int rc = data_frame_parse(buf + off, have - off, &f, &used);
			if (rc == SPATE_EAGAIN)
				break;
			if (rc < 0) {
				problem = f.error;
				break;
			}
			off += used;
			if (!handshaken) {
				problem = check_hello(&f, why, sizeof why);
				if (problem)
					break;
				uint8_t hello[DATA_FRAME_CONTROL_MAX];
				if (send_bytes(c->fd, hello, encode_hello(hello)) < 0) {
					problem = "cannot answer the handshake";
					break;
				}
				handshaken = true;
				pthread_mutex_lock(&ne->mu);
				c->open = true;
				pthread_cond_signal(&c->wcond);
				pthread_mutex_unlock(&ne->mu);
				continue;
			}
			if (!locked) {
				pthread_mutex_lock(&ne->mu);
				locked = true;
			}
			problem = handle_frame(c, &f, why, sizeof why, &recycle);
		}
		if (locked)
			pthread_mutex_unlock(&ne->mu);
		recycle_list(recycle);
		if (problem) {
			conn_fail(c, true, "%s", problem);
			break;
		}
		memmove(buf, buf + off, have - off);
		have -= off;

		if (!handshaken) {
			int64_t left = deadline - monotonic_ms();
			struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
			int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0) {
				conn_fail(c, true, "no handshake within %d ms",
				          atomic_load(&ne->handshake_timeout_ms));
				break;
			}
		}
		ssize_t n = recv(c->fd, buf + have, READ_BUFFER_BYTES - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			conn_fail(c, true, "read failed: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			if (have > 0)
				conn_fail(c, true, "truncated frame (%zu bytes) at end of stream",
				          have);
			else if (!handshaken)
				conn_fail(c, true, "closed before the handshake");
			else
				conn_fail(c, false, "closed by the peer");
			break;
		}
		have += (size_t)n;
	}
	xfree(buf);
	atomic_fetch_add(&c->exited, 1);
	return NULL;
}

/* ---- writer ------------------------------------------------------------------------------ */

/* Producer side: writes buffers of subpartitions that have credit, round robin. */
static void server_writer(struct conn *c)
{
	struct netenv *ne = c->ne;
	uint8_t headers[WRITE_BATCH][DATA_FRAME_CONTROL_MAX];
	struct iovec iov[2 * WRITE_BATCH];
	struct buffer *bufs[WRITE_BATCH];
	struct outbound *owners[WRITE_BATCH];

	pthread_mutex_lock(&ne->mu);
	for (;;) {
		while (!c->dead && (!c->open || !c->ready_head))
			pthread_cond_wait(&c->wcond, &ne->mu);
		if (c->dead)
			break;
		int n = 0, niov = 0;
		while (n < WRITE_BATCH && c->ready_head) {
			struct outbound *ob = c->ready_head;
			c->ready_head = ob->next_ready;
			if (!c->ready_head)
				c->ready_tail = NULL;
			ob->ready = false;
			ob->next_ready = NULL;
			struct buffer *b = ob->head;
			ob->head = b->next;
			if (!ob->head)
				ob->tail = NULL;
			ob->nqueued--;
			ob->credit--;
			ob->inflight++;
			b->next = NULL;
			struct data_frame f = {.type = DATA_BUFFER,
			                       .receiver = ob->receiver,
			                       .kind = b->kind,
			                       .backlog = (uint32_t)ob->nqueued,
			                       .payload_len = b->size};
			iov[niov].iov_base = headers[n];
			iov[niov++].iov_len = data_frame_encode(&f, headers[n]);
			if (b->size > 0) {
				iov[niov].iov_base = b->data;
				iov[niov++].iov_len = b->size;
			}
			bufs[n] = b;
			owners[n++] = ob;
			maybe_ready(ob); /* to the back of the line: round robin */
		}
		pthread_mutex_unlock(&ne->mu);
		int rc = send_all(c->fd, iov, niov);
		/* Recycle before giving up the in-flight count: once it drops to zero,
		 * netenv_unregister_subpartition may return and the pool be freed. */
		for (int i = 0; i < n; i++)
			buffer_recycle(bufs[i]);
		pthread_mutex_lock(&ne->mu);
		for (int i = 0; i < n; i++)
			owners[i]->inflight--;
		pthread_cond_broadcast(&ne->cond);
		pthread_mutex_unlock(&ne->mu);
		if (rc < 0) {
			conn_fail(c, true, "write failed: %s", strerror(-rc));
			return;
		}
		pthread_mutex_lock(&ne->mu);
	}
	pthread_mutex_unlock(&ne->mu);
}

/* Consumer side: writes partition requests, credit and cancels. */
static void client_writer(struct conn *c)
{
	struct netenv *ne = c->ne;
	enum { BATCH = 64 };
	uint8_t out[BATCH * DATA_FRAME_CONTROL_MAX];

	pthread_mutex_lock(&ne->mu);
	for (;;) {
		while (!c->dead && !c->pending_head)
			pthread_cond_wait(&c->wcond, &ne->mu);
		if (c->dead)
			break;
		size_t len = 0;
		for (int i = 0; i < BATCH && c->pending_head; i++) {
			struct remote_channel *rc = c->pending_head;
			c->pending_head = rc->next_pending;
			if (!c->pending_head)
				c->pending_tail = NULL;
			rc->pending = false;
			rc->next_pending = NULL;
			struct data_frame f = {.receiver = rc->receiver};
			if (rc->need_request) {
				f.type = DATA_PARTITION_REQUEST;
				f.partition = rc->id;
				f.credit = (uint32_t)rc->unannounced;
				rc->credit_out += rc->unannounced;
				rc->need_request = false;
				rc->unannounced = 0;
			} else if (rc->need_cancel) {
				f.type = DATA_CANCEL_PARTITION;
				rc->need_cancel = false;
			} else if (rc->unannounced > 0 && !rc->released) {
				f.type = DATA_ADD_CREDIT;
				f.credit = (uint32_t)rc->unannounced;
				rc->credit_out += rc->unannounced;
				rc->unannounced = 0;
			} else {
				continue;
			}
			len += data_frame_encode(&f, out + len);
		}
		if (len == 0)
			continue;
		pthread_mutex_unlock(&ne->mu);
		int rc = send_bytes(c->fd, out, len);
		if (rc < 0) {
			conn_fail(c, true, "write failed: %s", strerror(-rc));
			return;
		}
		pthread_mutex_lock(&ne->mu);
	}
	pthread_mutex_unlock(&ne->mu);
}

static void *writer_main(void *arg)
{
	struct conn *c = arg;
	char name[128];
	snprintf(name, sizeof name, "data-out %s", c->peer);
	log_set_thread_name(name);
	pthread_setname_np(pthread_self(), c->client ? "data-out-cons" : "data-out-prod");
	if (c->client)
		client_writer(c);
	else
		server_writer(c);
	atomic_fetch_add(&c->exited, 1);
	return NULL;
}

/* ---- connections ------------------------------------------------------------------------- */

static struct conn *conn_new(struct netenv *ne, int fd, bool client, const char *peer)
{
	struct conn *c = xcalloc(1, sizeof *c);
	c->ne = ne;
	c->fd = fd;
	c->client = client;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	pthread_cond_init(&c->wcond, NULL);
	return c;
}

/* Starts c's threads; on failure c is dead (a started reader ends by itself). Caller holds
 * ne->mu and has linked c. */
static int conn_start(struct conn *c)
{
	if (pthread_create(&c->reader, NULL, reader_main, c) != 0)
		goto fail;
	c->nthreads = 1;
	if (pthread_create(&c->writer, NULL, writer_main, c) != 0)
		goto fail;
	c->nthreads = 2;
	return 0;
fail:
	c->dead = true;
	c->fail_logged = true;
	shutdown(c->fd, SHUT_RDWR);
	return SPATE_ENOMEM;
}

/* Joins c's threads and frees it (c is unlinked and dead). */
static void conn_free(struct conn *c)
{
	if (c->nthreads > 0)
		pthread_join(c->reader, NULL);
	if (c->nthreads > 1)
		pthread_join(c->writer, NULL);
	close(c->fd);
	for (uint32_t i = 0; i < c->nchans; i++)
		xfree(c->chans[i]);
	xfree(c->chans);
	xfree(c->by_receiver);
	pthread_cond_destroy(&c->wcond);
	xfree(c);
}

/* Unlinks the server connections whose threads have both returned (ne->mu held); returns
 * them linked by next, to free after unlocking. */
static struct conn *reap_dead(struct netenv *ne)
{
	struct conn *reaped = NULL;
	for (struct conn **p = &ne->conns; *p;) {
		struct conn *c = *p;
		if (!c->client && c->dead && atomic_load(&c->exited) == c->nthreads) {
			*p = c->next;
			c->next = reaped;
			reaped = c;
		} else {
			p = &c->next;
		}
	}
	return reaped;
}

static void *acceptor_main(void *arg)
{
	struct netenv *ne = arg;
	log_set_thread_name("data-server");
	for (;;) {
		struct pollfd pfd[2] = {{.fd = ne->listen_fd, .events = POLLIN},
		                        {.fd = ne->wake_pipe[0], .events = POLLIN}};
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		struct sockaddr_storage sa;
		socklen_t salen = sizeof sa;
		int fd = accept4(ne->listen_fd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of descriptors: do not spin on a listen socket that stays
				 * readable. */
				log_warn("data server cannot accept: %s", strerror(errno));
				struct timespec ts = {0, 100 * 1000000};
				nanosleep(&ts, NULL);
			}
			continue;
		}
		set_nodelay(fd);
		char host[64] = "?", serv[16] = "?", peer[96];
		getnameinfo((struct sockaddr *)&sa, salen, host, sizeof host, serv, sizeof serv,
		            NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(peer, sizeof peer, "%s:%s", host, serv);
		struct conn *c = conn_new(ne, fd, false, peer);

		pthread_mutex_lock(&ne->mu);
		struct conn *reaped = reap_dead(ne);
		if (ne->stopping) {
			pthread_mutex_unlock(&ne->mu);
			close(fd);
			pthread_cond_destroy(&c->wcond);
			xfree(c);
		} else {
			c->next = ne->conns;
			ne->conns = c;
			if (conn_start(c) < 0)
				log_warn("data connection from %s closed: cannot start its threads",
				         peer);
			pthread_mutex_unlock(&ne->mu);
		}
		while (reaped) {
			struct conn *next = reaped->next;
			conn_free(reaped);
			reaped = next;
		}
	}
	return NULL;
}

/* Reads exactly len bytes before deadline_ms (monotonic). 0, or a negative code. */
static int recv_exact(int fd, uint8_t *p, size_t len, int64_t deadline_ms)
{
	while (len > 0) {
		int64_t left = deadline_ms - monotonic_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return SPATE_EAGAIN;
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SPATE_EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Connects to host:port with a timeout. fd, or a negative code with err set. */
static int dial(const char *host, int port, struct spate_error *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	char serv[16];
	snprintf(serv, sizeof serv, "%d", port);
	int gai = getaddrinfo(host, serv, &hints, &res);
	if (gai != 0)
		return error_set(err, SPATE_ECONNECT, "cannot resolve data server '%s:%d': %s",
		                 host, port, gai_strerror(gai));
	int fd = -1, last = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			last = errno;
			continue;
		}
		int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (rc < 0 && errno == EINPROGRESS) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int pr;
			do
				pr = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
			while (pr < 0 && errno == EINTR);
			int soerr = pr == 0 ? ETIMEDOUT : 0;
			socklen_t sl = sizeof soerr;
			if (pr > 0)
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			rc = soerr ? -1 : 0;
			errno = soerr;
		}
		if (rc == 0)
			break;
		last = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return error_set(err, SPATE_ECONNECT, "cannot connect to data server '%s:%d': %s",
		                 host, port, strerror(last));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	set_nodelay(fd);
	return fd;
}

/* The live connection to host:port, opened (with its handshake) if needed. */
static struct conn *get_conn(struct netenv *ne, const char *host, int port, struct spate_error *err)
{
	pthread_mutex_lock(&ne->connect_mu);
	pthread_mutex_lock(&ne->mu);
	struct conn *c = ne->conns;
	while (c && !(c->client && !c->dead && c->port == port && strcmp(c->host, host) == 0))
		c = c->next;
	pthread_mutex_unlock(&ne->mu);
	if (c)
		goto out;

	int fd = dial(host, port, err);
	if (fd < 0)
		goto out;
	uint8_t hello[DATA_FRAME_CONTROL_MAX];
	size_t hlen = encode_hello(hello);
	char why[160];
	const char *problem = NULL;
	struct data_frame f;
	size_t used;
	int64_t deadline = monotonic_ms() + atomic_load(&ne->handshake_timeout_ms);
	if (send_bytes(fd, hello, hlen) < 0 || recv_exact(fd, hello, hlen, deadline) < 0)
		problem = "no handshake from the data server";
	else if (data_frame_parse(hello, hlen, &f, &used) != 0)
		problem = "bad handshake from the data server";
	else
		problem = check_hello(&f, why, sizeof why);
	if (problem) {
		close(fd);
		error_set(err, SPATE_ECONNECT, "cannot connect to data server '%s:%d': %s", host,
		          port, problem);
		goto out;
	}

	char peer[96];
	snprintf(peer, sizeof peer, "%s:%d", host, port);
	c = conn_new(ne, fd, true, peer);
	snprintf(c->host, sizeof c->host, "%s", host);
	c->port = port;
	c->open = true;
	pthread_mutex_lock(&ne->mu);
	c->next = ne->conns;
	ne->conns = c;
	if (conn_start(c) < 0) {
		error_set(err, SPATE_ENOMEM, "cannot start the threads of the connection to '%s'",
		          peer);
		c = NULL; /* stays linked as dead, freed by netenv_stop */
	}
	pthread_mutex_unlock(&ne->mu);
out:
	pthread_mutex_unlock(&ne->connect_mu);
	return c;
}

/* ---- public API -------------------------------------------------------------------------- */

struct netenv *netenv_start(const char *bind_host, int port, int buffers_per_channel,
                            int floating_per_gate, struct spate_error *err)
{
	if (buffers_per_channel < 1 || floating_per_gate < 0) {
		error_set(
		    err, SPATE_EINVAL,
		    "invalid network buffers: %d per channel (at least 1), %d floating per gate",
		    buffers_per_channel, floating_per_gate);
		return NULL;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE},
	                *res;
	char serv[16];
	snprintf(serv, sizeof serv, "%d", port);
	int gai = getaddrinfo(bind_host, serv, &hints, &res);
	if (gai != 0) {
		error_set(err, SPATE_EINVAL, "cannot resolve data bind address '%s': %s",
		          bind_host ? bind_host : "*", gai_strerror(gai));
		return NULL;
	}
	int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		error_set(err, SPATE_EIO, "cannot listen on data port '%s:%d': %s",
		          bind_host ? bind_host : "*", port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return NULL;
	}
	freeaddrinfo(res);
	struct sockaddr_storage sa;
	socklen_t salen = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &salen);

	struct netenv *ne = xcalloc(1, sizeof *ne);
	ne->listen_fd = fd;
	ne->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
	                                          : ((struct sockaddr_in *)&sa)->sin_port);
	ne->buffers_per_channel = buffers_per_channel;
	ne->floating_per_gate = floating_per_gate;
	atomic_init(&ne->handshake_timeout_ms, 5000);
	pthread_mutex_init(&ne->connect_mu, NULL);
	pthread_mutex_init(&ne->mu, NULL);
	pthread_cond_init(&ne->cond, NULL);
	if (pipe2(ne->wake_pipe, O_CLOEXEC) < 0 ||
	    pthread_create(&ne->acceptor, NULL, acceptor_main, ne) != 0) {
		error_set(err, SPATE_EIO, "cannot start the data server: %s", strerror(errno));
		close(fd);
		pthread_mutex_destroy(&ne->connect_mu);
		pthread_mutex_destroy(&ne->mu);
		pthread_cond_destroy(&ne->cond);
		xfree(ne);
		return NULL;
	}
	log_info("Data server listening on port %d", ne->port);
	return ne;
}

int netenv_port(const struct netenv *ne)
{
	return ne->port;
}

void netenv_set_handshake_timeout(struct netenv *ne, int timeout_ms)
{
	atomic_store(&ne->handshake_timeout_ms, timeout_ms);
}

void netenv_set_failure_handler(struct netenv *ne, netenv_failure_fn fn, void *arg)
{
	pthread_mutex_lock(&ne->mu);
	ne->on_failure = fn;
	ne->on_failure_arg = arg;
	pthread_mutex_unlock(&ne->mu);
}

void netenv_get_stats(struct netenv *ne, struct netenv_stats *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&ne->mu);
	for (struct conn *c = ne->conns; c; c = c->next)
		out->connections += !c->dead;
	for (struct outbound *ob = ne->outbounds; ob; ob = ob->next) {
		out->registered += ob->sp != NULL;
		out->pending_requests += !ob->sp && ob->conn;
	}
	for (struct remote_gate *rg = ne->gates; rg; rg = rg->next)
		out->remote_channels += rg->nchans;
	pthread_mutex_unlock(&ne->mu);
}

/* hand-over hook of a registered subpartition: queues b for the network. */
static void outbound_push(void *arg, struct buffer *b)
{
	struct outbound *ob = arg;
	struct netenv *env = ob->ne;
	b->next = NULL;
	pthread_mutex_lock(&env->mu);
	if (ob->dropped) {
		pthread_mutex_unlock(&env->mu);
		buffer_recycle(b);
		return;
	}
	if (ob->tail)
		ob->tail->next = b;
	else
		ob->head = b;
	ob->tail = b;
	ob->nqueued++;
	maybe_ready(ob);
	pthread_mutex_unlock(&env->mu);
}

int netenv_register_subpartition(struct netenv *ne, const struct partition_id *id,
                                 struct result_partition *rp, struct spate_error *err)
{
	if (id->subpartition >= (uint32_t)rp->nsubs)
		return error_set(err, SPATE_EINVAL,
		                 "cannot register subpartition %u: the partition has %d",
		                 id->subpartition, rp->nsubs);
	struct subpartition *sp = &rp->subs[id->subpartition];
	pthread_mutex_lock(&ne->mu);
	struct outbound *ob = ne->outbounds;
	while (ob && !partition_id_equal(&ob->id, id))
		ob = ob->next;
	if (ob && (ob->sp || ob->dropped)) {
		pthread_mutex_unlock(&ne->mu);
		return error_set(err, SPATE_EINVAL,
		                 "subpartition %u.%u.%u.%u is already registered", id->vertex,
		                 id->subtask, id->output, id->subpartition);
	}
	if (!ob) {
		ob = xcalloc(1, sizeof *ob);
		ob->ne = ne;
		ob->id = *id;
		ob->next = ne->outbounds;
		ne->outbounds = ob;
	}
	ob->sp = sp;
	ob->canceled = rp->pool.canceled;
	sp->remote_push = outbound_push;
	sp->remote_arg = ob;
	pthread_mutex_unlock(&ne->mu);
	return 0;
}

void netenv_unregister_subpartition(struct netenv *ne, const struct partition_id *id)
{
	pthread_mutex_lock(&ne->mu);
	struct outbound *ob = ne->outbounds;
	while (ob && !(ob->sp && partition_id_equal(&ob->id, id)))
		ob = ob->next;
	if (!ob) {
		pthread_mutex_unlock(&ne->mu);
		return;
	}
	/* Until written, dropped or canceled; and never while the writer holds one of ours. */
	while (ob->inflight > 0 ||
	       (ob->head && !ob->dropped &&
	        !(ob->canceled && atomic_load_explicit(ob->canceled, memory_order_acquire)))) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ne->cond, &ne->mu, &ts);
	}
	if (ob->conn) {
		ready_remove(ob->conn, ob);
		ob->conn->by_receiver[ob->receiver] = &released_receiver;
	}
	struct buffer *q = outbound_take_queue(ob);
	ob->sp->remote_push = NULL;
	ob->sp->remote_arg = NULL;
	outbound_unlink(ne, ob);
	xfree(ob);
	pthread_mutex_unlock(&ne->mu);
	recycle_list(q);
}

static struct remote_gate *find_gate(struct netenv *ne, const struct input_gate *g)
{
	struct remote_gate *rg = ne->gates;
	while (rg && rg->gate != g)
		rg = rg->next;
	return rg;
}

int netenv_connect_channel(struct netenv *ne, const char *host, int port,
                           const struct partition_id *id, struct input_gate *g, int channel,
                           struct spate_error *err)
{
	if (channel < 0 || channel >= g->nchannels)
		return error_set(err, SPATE_EINVAL, "no input channel %d: the gate has %d", channel,
		                 g->nchannels);
	struct conn *c = get_conn(ne, host, port, err);
	if (!c)
		return err->code ? err->code : SPATE_ECONNECT;

	pthread_mutex_lock(&ne->mu);
	int rc = 0;
	struct remote_gate *rg = find_gate(ne, g);
	if (rg) {
		for (int i = 0; i < rg->nchans; i++)
			if (rg->chans[i]->channel == channel) {
				rc = error_set(err, SPATE_EINVAL,
				               "input channel %d is already connected", channel);
				goto out;
			}
	}
	if (c->dead || c->nchans >= MAX_RECEIVERS) {
		rc = error_set(err, SPATE_ECONNECT, "data connection to '%s:%d' is %s", host, port,
		               c->dead ? "closed" : "full");
		goto out;
	}
	if (!rg) {
		rg = xcalloc(1, sizeof *rg);
		rg->ne = ne;
		rg->gate = g;
		rg->by_channel = xcalloc((size_t)g->nchannels, sizeof *rg->by_channel);
		if (buffer_pool_init(&rg->floating, ne->floating_per_gate, g->canceled) < 0) {
			buffer_pool_release(&rg->floating);
			xfree(rg->by_channel);
			xfree(rg);
			rc = error_set(err, SPATE_ENOMEM, "cannot allocate %d floating buffers",
			               ne->floating_per_gate);
			goto out;
		}
		rg->floating.recycle_hook = floating_recycled;
		rg->floating.hook_arg = rg;
		rg->next = ne->gates;
		ne->gates = rg;
	}
	struct remote_channel *ch = xcalloc(1, sizeof *ch);
	if (buffer_pool_init(&ch->exclusive, ne->buffers_per_channel, g->canceled) < 0) {
		buffer_pool_release(&ch->exclusive);
		xfree(ch);
		rc = error_set(err, SPATE_ENOMEM, "cannot allocate %d exclusive buffers",
		               ne->buffers_per_channel);
		goto out;
	}
	ch->exclusive.recycle_hook = exclusive_recycled;
	ch->exclusive.hook_arg = ch;
	ch->ne = ne;
	ch->rg = rg;
	ch->conn = c;
	ch->channel = channel;
	ch->id = *id;
	ch->receiver = c->nchans;
	ch->unannounced = ne->buffers_per_channel; /* the initial credit */
	ch->need_request = true;
	if (c->nchans == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->chans = xrealloc(c->chans, c->cap * sizeof *c->chans);
	}
	c->chans[c->nchans++] = ch;
	if (rg->nchans == rg->cap) {
		rg->cap = rg->cap ? 2 * rg->cap : 8;
		rg->chans = xrealloc(rg->chans, (size_t)rg->cap * sizeof *rg->chans);
	}
	rg->chans[rg->nchans++] = ch;
	rg->by_channel[channel] = ch;
	pending_append(c, ch);
out:
	pthread_mutex_unlock(&ne->mu);
	return rc;
}

/* input_gate_steal filter: a buffer of one of the gate's remote pools. */
static bool is_remote_buffer_of(const struct buffer *b, void *arg)
{
	const struct remote_gate *rg = arg;
	if (b->pool == &rg->floating)
		return true;
	if (b->pool->recycle_hook != exclusive_recycled)
		return false;
	const struct remote_channel *rc = b->pool->hook_arg;
	return rc->rg == rg;
}

/* Detaches rg and frees its buffers (ne->mu held). */
static void gate_release_locked(struct netenv *ne, struct remote_gate *rg)
{
	for (struct remote_gate **p = &ne->gates; *p; p = &(*p)->next)
		if (*p == rg) {
			*p = rg->next;
			break;
		}
	/* Remote buffers still queued in the gate (after a cancel) go with their pools. */
	(void)input_gate_steal(rg->gate, is_remote_buffer_of, rg);
	for (int i = 0; i < rg->nchans; i++) {
		struct remote_channel *rc = rg->chans[i];
		rc->released = true;
		rc->unannounced = 0;
		if (rc->need_request) /* never sent: nothing to cancel */
			rc->need_request = false;
		else if (!rc->conn->dead && !rc->ended) {
			rc->need_cancel = true;
			pending_append(rc->conn, rc);
		}
		rc->floating = NULL;
		rc->nfloating = 0;
		rc->rg = NULL;
		buffer_pool_release(&rc->exclusive);
	}
	buffer_pool_release(&rg->floating);
	xfree(rg->chans);
	xfree(rg->by_channel);
	xfree(rg);
}

void netenv_release_gate(struct netenv *ne, struct input_gate *g)
{
	pthread_mutex_lock(&ne->mu);
	struct remote_gate *rg = find_gate(ne, g);
	if (rg)
		gate_release_locked(ne, rg);
	/* A failing connection may still be notifying or waking this gate outside the lock:
	 * the caller frees the gate next. */
	while (ne->notifying > 0)
		pthread_cond_wait(&ne->cond, &ne->mu);
	pthread_mutex_unlock(&ne->mu);
}

void netenv_stop(struct netenv *ne)
{
	if (!ne)
		return;
	pthread_mutex_lock(&ne->mu);
	ne->stopping = true;
	pthread_mutex_unlock(&ne->mu);
	ssize_t w = write(ne->wake_pipe[1], "x", 1);
	(void)w;
	pthread_join(ne->acceptor, NULL);
	close(ne->listen_fd);
	close(ne->wake_pipe[0]);
	close(ne->wake_pipe[1]);

	/* Stop every connection, then join and free them: no thread of ours runs afterwards. */
	struct buffer *recycle = NULL;
	pthread_mutex_lock(&ne->mu);
	for (struct conn *c = ne->conns; c; c = c->next) {
		struct failed_channel *failed;
		int nfailed;
		struct buffer *q = conn_kill(ne, c, &failed, &nfailed);
		xfree(failed);
		while (q) {
			struct buffer *next = q->next;
			q->next = recycle;
			recycle = q;
			q = next;
		}
	}
	struct conn *conns = ne->conns;
	ne->conns = NULL;
	pthread_mutex_unlock(&ne->mu);
	recycle_list(recycle);
	recycle = NULL;

	/* Gates first: their channels live in the connections. */
	pthread_mutex_lock(&ne->mu);
	while (ne->gates)
		gate_release_locked(ne, ne->gates);
	pthread_mutex_unlock(&ne->mu);
	while (conns) {
		struct conn *next = conns->next;
		conn_free(conns);
		conns = next;
	}
	while (ne->outbounds) {
		struct outbound *ob = ne->outbounds;
		ne->outbounds = ob->next;
		struct buffer *q = outbound_take_queue(ob);
		if (ob->sp) {
			ob->sp->remote_push = NULL;
			ob->sp->remote_arg = NULL;
		}
		xfree(ob);
		recycle_list(q);
	}
	pthread_mutex_destroy(&ne->connect_mu);
	pthread_mutex_destroy(&ne->mu);
	pthread_cond_destroy(&ne->cond);
	xfree(ne);
}
