/*
 * netenv.h - the data plane between TaskManagers (Flink's NettyShuffleEnvironment: the
 * data server, the connection manager and credit-based flow control).
 *
 * One netenv per TaskManager process. It listens on the data port and opens one TCP
 * connection per peer it consumes from; every input channel of this process fed by that
 * peer is multiplexed over that one connection (the consumer's side opens it: partition
 * requests, credit and cancel go one way, buffers the other). Connections start with a
 * HELLO frame each way (magic + protocol version); the wire format is in data_frame.h.
 *
 * Credit-based flow control (Flink's, flink-facts §9):
 * - A remote input channel owns `buffers_per_channel` exclusive buffers; each gate with
 *   remote channels owns `floating_per_gate` floating buffers. The partition request carries
 *   the exclusive buffers as initial credit.
 * - The producer sends a buffer of a subpartition only while that subpartition has credit,
 *   and attaches its backlog (buffers queued behind it). Every buffer kind (data, span,
 *   end-of-partition) takes one credit, because each lands in a buffer of the consumer's
 *   gate. (Flink sends events without credit and deserializes them into unpooled memory;
 *   Spate's gate queues buffers only, so it keeps one rule for everything.)
 * - The consumer takes a free buffer of the channel (floating first, then exclusive) for
 *   each buffer that arrives; none free means the producer broke the protocol and the
 *   connection is closed. When backlog + buffers_per_channel exceeds the channel's free
 *   buffers it lends itself floating buffers from the gate and announces them as credit.
 * - When the consuming task recycles a buffer (buffer_recycle, through its pool's
 *   recycle_hook): an exclusive buffer becomes credit of its channel again (or, when the
 *   channel holds more than it needs, it replaces a lent floating buffer, which goes back
 *   to the gate); a floating buffer goes to a channel of the gate that wants one (credit)
 *   or back to the gate.
 * - Credit is announced in batches: a channel's unannounced credit goes out once it is at
 *   least the producer's remaining credit plus the buffers the consuming task still holds
 *   (about half of the channel's buffers in a steady stream), and at once when both are
 *   zero. Floating buffers a channel takes from the gate for its producer's backlog are
 *   announced at once (held back, they would sit unannounced while the task holds its
 *   buffers, and no other channel could have them). Flink announces on the first
 *   unannounced credit; one frame per buffer cost a wake-up of the consumer's writer, the
 *   producer's reader and its writer each.
 * So a consumer that stops reading stops its channels' credit only: its producer queues
 * until its bounded pool is empty and blocks in buffer_pool_request, while every other
 * channel on the same connection keeps flowing.
 *
 * DESIGN (threads and locks):
 * - Threads: one acceptor thread; per connection one reader thread and one writer thread.
 *   The reader parses frames and acts on them; the writer is driven by a ready queue:
 *   subpartitions with queued buffers and credit (producer side), channels with a request,
 *   credit or cancel to announce (consumer side). Only the reader reads a socket, only the
 *   writer writes it after the handshake. Producer and consumer tasks call in through
 *   remote_push (hand-over of a buffer) and the recycle hooks; they block on nothing but
 *   ne->mu.
 * - ne->mu guards all of a netenv's state: connections, registered subpartitions and their
 *   queues and credit, remote gates and channels and their free buffers. It is held briefly,
 *   never across a socket call; the reader copies an arriving payload into a gate buffer
 *   under it (one 32 KiB memcpy).
 * - Lock order: ne->connect_mu -> ne->mu -> gate.mu (the reader pushes into a gate, and
 *   netenv_release_gate steals buffers from it, under ne->mu). pool.mu is never taken under
 *   ne->mu: producer buffers are recycled after unlocking. Recycle hooks take ne->mu and
 *   are called with no lock held.
 * - A socket is shut down by whoever notices the failure (reader, writer, stop) and closed
 *   only after both its threads were joined, so its descriptor is never reused under them.
 */
#ifndef SPATE_NETWORK_NETENV_H
#define SPATE_NETWORK_NETENV_H

#include "core/error.h"
#include "network/data_frame.h"
#include "runtime/network.h"

struct netenv;

/* Called (with no lock held, on a netenv thread) when a remote channel can no longer
 * deliver: its connection failed before its end-of-partition arrived. */
typedef void (*netenv_failure_fn)(void *arg, struct input_gate *g, int channel, const char *why);

/*
 * Binds the data port (port 0 = ephemeral) and starts the acceptor. Returns new (free with
 * netenv_stop), or NULL with err set.
 */
struct netenv *netenv_start(const char *bind_host, int port, int buffers_per_channel,
                            int floating_per_gate, struct spate_error *err);
int netenv_port(const struct netenv *ne);
/* How long a new connection may take to send its HELLO (default 5000 ms). */
void netenv_set_handshake_timeout(struct netenv *ne, int timeout_ms);
/* fn is called when a remote channel fails (see netenv_failure_fn); arg is borrowed. */
void netenv_set_failure_handler(struct netenv *ne, netenv_failure_fn fn, void *arg);
/* Counts for tests and metrics (a snapshot). */
struct netenv_stats {
	int connections;      /* live connections, both directions */
	int registered;       /* subpartitions registered by producers here */
	int pending_requests; /* partition requests waiting for their producer to register */
	int remote_channels;  /* input channels of this process fed by a remote producer */
};
void netenv_get_stats(struct netenv *ne, struct netenv_stats *out);
/* Closes all connections, joins all threads, frees everything still registered. Call after
 * every task using ne has ended. */
void netenv_stop(struct netenv *ne);

/*
 * Producer side: subpartition id->subpartition of rp (borrowed; a result partition of this
 * process) is consumed by a task in another process. From now on its hand-overs queue its
 * buffers for the network instead of a local gate. Call before the producing task starts.
 * A partition request for id may have arrived already (it was kept pending) or come later
 * (buffers queue meanwhile, bounded by rp's pool).
 */
int netenv_register_subpartition(struct netenv *ne, const struct partition_id *id,
                                 struct result_partition *rp, struct spate_error *err);
/*
 * Producer side, after the producing task's thread ended: blocks until every buffer queued
 * on the subpartition (including end-of-partition) has been written to the socket, or the
 * consumer released it or its connection is gone, or the pool's cancel flag is set (checked
 * every 100 ms); then detaches it (queued buffers go back to their pool).
 */
void netenv_unregister_subpartition(struct netenv *ne, const struct partition_id *id);

/*
 * Consumer side: channel `channel` of g (borrowed) is fed by the remote subpartition id at
 * host:port. Opens (or shares) the connection to host:port, gives the channel its exclusive
 * buffers (and the gate its floating buffers, once per gate) and sends the partition request
 * with the initial credit. Call before the consuming task starts.
 */
int netenv_connect_channel(struct netenv *ne, const char *host, int port,
                           const struct partition_id *id, struct input_gate *g, int channel,
                           struct spate_error *err);
/*
 * Consumer side, after the consuming task's thread ended (it must have recycled every buffer
 * it took), before input_gate_release: detaches every remote channel of g (the reader never
 * touches g afterwards), takes remote buffers still queued in g back, frees the gate's remote
 * buffers and tells the producers to drop those subpartitions.
 */
void netenv_release_gate(struct netenv *ne, struct input_gate *g);

#endif
