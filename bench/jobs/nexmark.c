/*
 * nexmark.c - Nexmark q0..q3 as Spate jobs over one generator source of tagged events.
 *
 * The source emits every event (2 % persons, 6 % auctions, 92 % bids) as one wide row, like
 * the Flink runner's datagen table: event_type, the shared id and dateTime, then the person,
 * auction and bid columns, those of the other kinds null. Every field is a pure function of
 * the event id (nexmark_gen.h, shared with the baseline), so any parallelism yields the same
 * events.
 *
 *   q0: filter bids -> map (auction, bidder, price, dateTime, extra) -> blackhole
 *   q1: filter bids -> map (auction, bidder, 0.908 * price, dateTime, extra) -> blackhole
 *   q2: filter bids with auction % 123 == 0 -> map (auction, price) -> blackhole
 *   q3: filter persons in OR/ID/CA and auctions of category 10 -> map to the narrow join row
 *       (event_type, key = person id or seller, name, city, state, auction id) -> keyBy key
 *       -> process with keyed state (an unbounded inner join) -> (name, city, state, id)
 *       -> blackhole. The projection before the exchange is what Flink's planner does too;
 *       it also keeps the keyBy on a field rather than a key-selector function.
 *
 * The blackhole sink counts rows and adds a 20-bit hash of each (nx_hash_q*). Usage: spate
 * run [-p P] nexmark.so QUERY N. Each sink subtask prints "RESULT subtask=<i> out=<rows>
 * checksum=<sum of hashes>"; the harness adds them and compares with baseline_nexmark.
 */
#include "job_common.h"
#include "nexmark_gen.h"

#define NX_SCHEMA                                                                          \
	"event_type:int32,id:int64,dateTime:timestamp,name:string,email:string,"           \
	"credit_card:string,city:string,state:string,item_name:string,description:string," \
	"initial_bid:int64,reserve:int64,expires:timestamp,seller:int64,category:int64,"   \
	"auction:int64,bidder:int64,price:int64,channel:string,url:string,extra:string"

enum {
	F_TYPE,
	F_ID,
	F_TS,
	F_NAME,
	F_EMAIL,
	F_CARD,
	F_CITY,
	F_STATE,
	F_ITEM,
	F_DESC,
	F_INITIAL_BID,
	F_RESERVE,
	F_EXPIRES,
	F_SELLER,
	F_CATEGORY,
	F_AUCTION,
	F_BIDDER,
	F_PRICE,
	F_CHANNEL,
	F_URL,
	F_EXTRA,
};

#define Q0_SCHEMA "auction:int64,bidder:int64,price:int64,dateTime:timestamp,extra:string"
#define Q1_SCHEMA "auction:int64,bidder:int64,price:double,dateTime:timestamp,extra:string"
#define Q2_SCHEMA "auction:int64,price:int64"
#define Q3_SCHEMA "name:string,city:string,state:string,id:int64"
#define Q3_JOIN_SCHEMA "event_type:int32,key:int64,name:string,city:string,state:string,id:int64"

enum { J_TYPE, J_KEY, J_NAME, J_CITY, J_STATE, J_ID };

int bench_nx_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out);
int bench_nx_is_bid(spate_ctx *ctx, const spate_row *in);
int bench_nx_q0_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int bench_nx_q1_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int bench_nx_q2_filter(spate_ctx *ctx, const spate_row *in);
int bench_nx_q2_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int bench_nx_q3_filter(spate_ctx *ctx, const spate_row *in);
int bench_nx_q3_project(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int bench_nx_q3_join(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_nx_q0_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_nx_q1_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_nx_q2_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_nx_q3_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_nx_end(spate_ctx *ctx, spate_collector *out);

static void set_str(spate_row_builder *b, int i, struct nx_str s)
{
	spate_row_set_str(b, i, s.p, s.len);
}

int bench_nx_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out)
{
	struct nx_event ev;

	nx_init();
	nx_event_make(index, &ev);
	spate_row_set_i32(out, F_TYPE, ev.kind);
	spate_row_set_timestamp(out, F_TS, ev.ts_ms);
	set_str(out, F_EXTRA, ev.extra);
	switch (ev.kind) {
	case NX_PERSON:
		spate_row_set_i64(out, F_ID, ev.id);
		set_str(out, F_NAME, ev.name);
		set_str(out, F_EMAIL, ev.email);
		set_str(out, F_CARD, ev.credit_card);
		set_str(out, F_CITY, ev.city);
		set_str(out, F_STATE, ev.state);
		break;
	case NX_AUCTION:
		spate_row_set_i64(out, F_ID, ev.id);
		set_str(out, F_ITEM, ev.item_name);
		set_str(out, F_DESC, ev.description);
		spate_row_set_i64(out, F_INITIAL_BID, ev.initial_bid);
		spate_row_set_i64(out, F_RESERVE, ev.reserve);
		spate_row_set_timestamp(out, F_EXPIRES, ev.expires_ms);
		spate_row_set_i64(out, F_SELLER, ev.seller);
		spate_row_set_i64(out, F_CATEGORY, ev.category);
		break;
	default:
		spate_row_set_i64(out, F_AUCTION, ev.auction);
		spate_row_set_i64(out, F_BIDDER, ev.bidder);
		spate_row_set_i64(out, F_PRICE, ev.price);
		set_str(out, F_CHANNEL, ev.channel);
		set_str(out, F_URL, ev.url);
		break;
	}
	return 0;
}

int bench_nx_is_bid(spate_ctx *ctx, const spate_row *in)
{
	return spate_row_i32(in, F_TYPE) == NX_BID;
}

int bench_nx_q0_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	size_t len = 0;
	const char *extra = spate_row_str(in, F_EXTRA, &len);

	spate_row_set_i64(out, 0, spate_row_i64(in, F_AUCTION));
	spate_row_set_i64(out, 1, spate_row_i64(in, F_BIDDER));
	spate_row_set_i64(out, 2, spate_row_i64(in, F_PRICE));
	spate_row_set_timestamp(out, 3, spate_row_i64(in, F_TS));
	spate_row_set_str(out, 4, extra, len);
	return 0;
}

int bench_nx_q1_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	size_t len = 0;
	const char *extra = spate_row_str(in, F_EXTRA, &len);

	spate_row_set_i64(out, 0, spate_row_i64(in, F_AUCTION));
	spate_row_set_i64(out, 1, spate_row_i64(in, F_BIDDER));
	spate_row_set_double(out, 2, nx_q1_price(spate_row_i64(in, F_PRICE)));
	spate_row_set_timestamp(out, 3, spate_row_i64(in, F_TS));
	spate_row_set_str(out, 4, extra, len);
	return 0;
}

int bench_nx_q2_filter(spate_ctx *ctx, const spate_row *in)
{
	return spate_row_i32(in, F_TYPE) == NX_BID && nx_q2_keep(spate_row_i64(in, F_AUCTION));
}

int bench_nx_q2_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	spate_row_set_i64(out, 0, spate_row_i64(in, F_AUCTION));
	spate_row_set_i64(out, 1, spate_row_i64(in, F_PRICE));
	return 0;
}

int bench_nx_q3_filter(spate_ctx *ctx, const spate_row *in)
{
	size_t len = 0;
	const char *state;

	switch (spate_row_i32(in, F_TYPE)) {
	case NX_PERSON:
		state = spate_row_str(in, F_STATE, &len);
		return state && nx_q3_state(state, len);
	case NX_AUCTION:
		return spate_row_i64(in, F_CATEGORY) == 10;
	default:
		return 0;
	}
}

/* The join row: the join key (a person's id, an auction's seller) and the fields q3 needs. */
int bench_nx_q3_project(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	size_t len = 0;
	const char *s;

	spate_row_set_i32(out, J_TYPE, spate_row_i32(in, F_TYPE));
	if (spate_row_i32(in, F_TYPE) == NX_PERSON) {
		spate_row_set_i64(out, J_KEY, spate_row_i64(in, F_ID));
		s = spate_row_str(in, F_NAME, &len);
		spate_row_set_str(out, J_NAME, s, len);
		s = spate_row_str(in, F_CITY, &len);
		spate_row_set_str(out, J_CITY, s, len);
		s = spate_row_str(in, F_STATE, &len);
		spate_row_set_str(out, J_STATE, s, len);
	} else {
		spate_row_set_i64(out, J_KEY, spate_row_i64(in, F_SELLER));
		spate_row_set_i64(out, J_ID, spate_row_i64(in, F_ID));
	}
	return 0;
}

/*
 * The join keeps, per person id, the person's (name, city, state) in value state "person"
 * as three NUL-terminated strings back to back, and the ids of auctions that arrived before
 * their seller in map state "auctions". A person arrives once, so after it the pending
 * auctions are emitted and dropped, and later auctions are emitted at once.
 */
struct q3_pending {
	int64_t *ids;
	size_t n, cap;
};

static int q3_collect(void *arg, const void *ukey, size_t uklen, const void *val, size_t len)
{
	struct q3_pending *p = arg;
	int64_t id;

	if (uklen != sizeof(id))
		return -1;
	memcpy(&id, ukey, sizeof(id));
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		int64_t *ids = realloc(p->ids, cap * sizeof(*ids));
		if (!ids)
			return -1;
		p->ids = ids;
		p->cap = cap;
	}
	p->ids[p->n++] = id;
	return 0;
}

static int q3_emit(spate_collector *out, const char *person, size_t len, int64_t auction)
{
	const char *name = person, *city = name + strlen(name) + 1,
	           *state = city + strlen(city) + 1;
	spate_row_builder *b = spate_collect_begin(out);

	if (state >= person + len)
		return -1;
	spate_row_set_str(b, 0, name, strlen(name));
	spate_row_set_str(b, 1, city, strlen(city));
	spate_row_set_str(b, 2, state, strlen(state));
	spate_row_set_i64(b, 3, auction);
	return spate_collect_emit(out);
}

int bench_nx_q3_join(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	spate_value_state *person = spate_ctx_value_state(ctx, "person");
	spate_map_state *auctions = spate_ctx_map_state(ctx, "auctions");
	const void *val;
	size_t len;
	int rc;

	if (!person || !auctions)
		return spate_ctx_fail(ctx, "q3 join: no keyed state");
	if (spate_row_i32(in, J_TYPE) == NX_PERSON) {
		size_t nl, cl, sl;
		const char *n = spate_row_str(in, J_NAME, &nl), *c = spate_row_str(in, J_CITY, &cl),
		           *s = spate_row_str(in, J_STATE, &sl);
		char buf[256];
		struct q3_pending pending = {0};

		if (!n || !c || !s || nl + cl + sl + 3 > sizeof(buf))
			return spate_ctx_fail(ctx, "q3 join: bad person row");
		memcpy(buf, n, nl + 1);
		memcpy(buf + nl + 1, c, cl + 1);
		memcpy(buf + nl + cl + 2, s, sl + 1);
		if ((rc = spate_value_put(person, buf, nl + cl + sl + 3)) < 0)
			return rc;
		if (spate_map_size(auctions) == 0)
			return 0;
		rc = spate_map_iterate(auctions, q3_collect, &pending);
		for (size_t i = 0; rc >= 0 && i < pending.n; i++) {
			rc = q3_emit(out, buf, nl + cl + sl + 3, pending.ids[i]);
			if (rc >= 0)
				rc = spate_map_remove(auctions, &pending.ids[i], sizeof(int64_t));
		}
		free(pending.ids);
		return rc < 0 ? spate_ctx_fail(ctx, "q3 join: cannot emit pending auctions") : 0;
	}
	int64_t id = spate_row_i64(in, J_ID);
	if (spate_value_get(person, &val, &len) == 1)
		return q3_emit(out, val, len, id) < 0 ? spate_ctx_fail(ctx, "q3 join: bad state")
		                                      : 0;
	return spate_map_put(auctions, &id, sizeof(id), "", 0);
}

struct nx_sink {
	uint64_t out, checksum;
};

static struct nx_sink *sink_state(spate_ctx *ctx)
{
	void **ud = spate_ctx_user_data(ctx);

	if (!*ud)
		*ud = calloc(1, sizeof(struct nx_sink));
	return *ud;
}

static uint64_t sig_of(const spate_row *in, int i)
{
	size_t len = 0;
	const char *s = spate_row_str(in, i, &len);

	return s ? nx_str_sig(s, len) : 0;
}

int bench_nx_q0_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	struct nx_sink *s = sink_state(ctx);

	if (!s)
		return spate_ctx_fail(ctx, "sink: out of memory");
	s->out++;
	s->checksum += nx_hash_q0(spate_row_i64(in, 0), spate_row_i64(in, 1), spate_row_i64(in, 2),
	                          spate_row_i64(in, 3), sig_of(in, 4));
	return 0;
}

int bench_nx_q1_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	struct nx_sink *s = sink_state(ctx);

	if (!s)
		return spate_ctx_fail(ctx, "sink: out of memory");
	s->out++;
	s->checksum += nx_hash_q1(spate_row_i64(in, 0), spate_row_i64(in, 1),
	                          spate_row_double(in, 2), spate_row_i64(in, 3), sig_of(in, 4));
	return 0;
}

int bench_nx_q2_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	struct nx_sink *s = sink_state(ctx);

	if (!s)
		return spate_ctx_fail(ctx, "sink: out of memory");
	s->out++;
	s->checksum += nx_hash_q2(spate_row_i64(in, 0), spate_row_i64(in, 1));
	return 0;
}

int bench_nx_q3_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	struct nx_sink *s = sink_state(ctx);

	if (!s)
		return spate_ctx_fail(ctx, "sink: out of memory");
	s->out++;
	s->checksum +=
	    nx_hash_q3(sig_of(in, 0), sig_of(in, 1), sig_of(in, 2), spate_row_i64(in, 3));
	return 0;
}

int bench_nx_end(spate_ctx *ctx, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct nx_sink *s = *ud;

	printf("RESULT subtask=%d out=%llu checksum=%llu\n", spate_ctx_subtask_index(ctx),
	       (unsigned long long)(s ? s->out : 0), (unsigned long long)(s ? s->checksum : 0));
	fflush(stdout);
	free(s);
	*ud = NULL;
	return 0;
}

static int nexmark_main(spate_env *env, int argc, char **argv)
{
	int64_t n = argc == 3 ? bench_parse_count(argv[2]) : -1;
	int q = -1;
	spate_stream *s;
	spate_process_fn sink = NULL;

	if (argc == 3 && argv[1][0] == 'q' && argv[1][1] >= '0' && argv[1][1] <= '3' && !argv[1][2])
		q = argv[1][1] - '0';
	if (q < 0 || n < 0)
		return job_usage("nexmark", "q0|q1|q2|q3 N");
	nx_init();
	s = spate_stream_name(spate_env_from_generator(env, NX_SCHEMA, bench_nx_gen, n, 0),
	                      "nexmark-source");
	switch (q) {
	case 0:
		s = spate_stream_name(spate_stream_filter(s, bench_nx_is_bid), "bids");
		s = spate_stream_name(spate_stream_map(s, Q0_SCHEMA, bench_nx_q0_map),
		                      "q0-project");
		sink = bench_nx_q0_sink;
		break;
	case 1:
		s = spate_stream_name(spate_stream_filter(s, bench_nx_is_bid), "bids");
		s = spate_stream_name(spate_stream_map(s, Q1_SCHEMA, bench_nx_q1_map),
		                      "q1-currency");
		sink = bench_nx_q1_sink;
		break;
	case 2:
		s = spate_stream_name(spate_stream_filter(s, bench_nx_q2_filter), "q2-filter");
		s = spate_stream_name(spate_stream_map(s, Q2_SCHEMA, bench_nx_q2_map),
		                      "q2-project");
		sink = bench_nx_q2_sink;
		break;
	default:
		s = spate_stream_name(spate_stream_filter(s, bench_nx_q3_filter), "q3-filter");
		s = spate_stream_map(s, Q3_JOIN_SCHEMA, bench_nx_q3_project);
		s = spate_stream_key_by(spate_stream_name(s, "q3-project"), "key");
		s = spate_stream_name(spate_stream_process(s, Q3_SCHEMA, bench_nx_q3_join),
		                      "q3-join");
		sink = bench_nx_q3_sink;
		break;
	}
	s = spate_stream_name(spate_stream_sink(s, sink), "blackhole");
	spate_stream_on_end(s, bench_nx_end);
	return job_execute(env, q == 0   ? "Nexmark q0"
	                        : q == 1 ? "Nexmark q1"
	                        : q == 2 ? "Nexmark q2"
	                                 : "Nexmark q3");
}

SPATE_JOB_ENTRY(nexmark_main)
