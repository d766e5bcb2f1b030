/*
 * nexmark_gen.h - a Nexmark event generator in which every field is a pure function of the
 * event id, shared by the baseline and the Spate job (see shared/reference/nexmark.md).
 *
 * It follows the Flink runner's NexmarkGenerator rules with the default configuration:
 * event kind from id % 50 (1 person, 3 auctions, 46 bids), ids from lastPersonId /
 * lastAuctionId, hot sellers (75 %), hot auctions (50 %) and hot bidders (75 %), log-uniform
 * prices, 4 hot channels out of 10,000, `extra` padding towards 200 / 500 / 100 bytes, and
 * event time advancing at 10 M events/s from RisingWave's fixed base time. Like Beam's and
 * RisingWave's generators (and unlike the Flink runner's), the random numbers of event e
 * come from a generator seeded with e, so a parallel source produces the same events as a
 * single one. Random strings are slices of a 1 MiB pool of [a-z ] built once from a fixed
 * seed; the 99 names and the 10,000 channel URLs are tables built the same way. The tables
 * are static arrays, not heap blocks: a job library may be unloaded before exit, and a heap
 * block reachable only from its statics would then show up as a leak. Bidder ids
 * get FIRST_PERSON_ID added once (the Flink runner adds it twice, a quirk not copied).
 *
 * Call nx_init() once per process before nx_event_make() (it is idempotent and thread-safe).
 */
#ifndef NEXMARK_GEN_H
#define NEXMARK_GEN_H

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench_gen.h"

#define NX_PERSON 0
#define NX_AUCTION 1
#define NX_BID 2

#define NX_TOTAL_PROPORTION 50
#define NX_PERSON_PROPORTION 1
#define NX_AUCTION_PROPORTION 3
#define NX_FIRST_ID 1000 /* FIRST_PERSON_ID = FIRST_AUCTION_ID */
#define NX_FIRST_CATEGORY 10
#define NX_NUM_CATEGORIES 5
#define NX_ID_LEAD 10
#define NX_HOT_BATCH 100 /* HOT_SELLER/AUCTION/BIDDER_RATIO */
#define NX_IN_FLIGHT_AUCTIONS 100
#define NX_ACTIVE_PEOPLE 1000
#define NX_EVENTS_PER_MS 10000 /* 10 M events/s of event time */
#define NX_BASE_TIME_MS 1436918400000LL
#define NX_POOL_BYTES (1 << 20)
#define NX_CHANNELS 10000
#define NX_URL_MAX 96                 /* bytes; the longest URL is 77 */
#define NX_SEED 0x6e65786d61726b21ull /* "nexmark!" */

struct nx_str {
	const char *p; /* not NUL-terminated; points into the tables or the event's buf */
	uint32_t len;
};

struct nx_event {
	int kind;                                            /* NX_PERSON, NX_AUCTION or NX_BID */
	int64_t id;                                          /* person or auction id */
	int64_t ts_ms;                                       /* dateTime, ms since the epoch */
	struct nx_str name, email, credit_card, city, state; /* person */
	struct nx_str item_name, description;                /* auction */
	int64_t initial_bid, reserve, expires_ms, seller, category; /* auction */
	int64_t auction, bidder, price;                             /* bid */
	struct nx_str channel, url;                                 /* bid */
	struct nx_str extra;                                        /* all */
	char buf[64]; /* email at 0, credit card at 32 */
};

struct nx_tables {
	char pool[NX_POOL_BYTES];
	char names[99][16];
	uint32_t name_len[99];
	char channel[NX_CHANNELS][16];
	uint32_t channel_len[NX_CHANNELS];
	char urls[(NX_CHANNELS + 4) * NX_URL_MAX]; /* all channel URLs back to back */
	uint32_t url_off[NX_CHANNELS + 4];
	uint32_t url_len[NX_CHANNELS + 4]; /* the last 4 are the hot channels' */
};

static struct nx_tables nx_tab;
static pthread_once_t nx_once = PTHREAD_ONCE_INIT;

static const char *const nx_first_names[11] = {
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
static const char *const nx_last_names[9] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                             "Walton", "Smith",  "Jones",   "Noris"};
static const char *const nx_cities[10] = {"Phoenix",  "Los Angeles", "San Francisco", "Boise",
                                          "Portland", "Bend",        "Redmond",       "Seattle",
                                          "Kent",     "Cheyenne"};
static const char *const nx_states[6] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const nx_hot_channels[4] = {"Google", "Facebook", "Baidu", "Apple"};

struct nx_rng {
	uint64_t s;
};

static inline uint64_t nx_next(struct nx_rng *r)
{
	r->s += BENCH_GOLDEN_GAMMA;
	return bench_splitmix64_mix(r->s);
}

/* Uniform in [0, n), n >= 1 (Lemire's multiply-shift, bias below 2^-40 here). */
static inline uint64_t nx_below(struct nx_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)nx_next(r) * n) >> 64);
}

static inline double nx_unit(struct nx_rng *r)
{
	return (double)(nx_next(r) >> 11) * 0x1.0p-53;
}

/* A random string of 3 .. max-1 characters of [a-z ] (Flink's nextString). */
static inline struct nx_str nx_string(struct nx_rng *r, uint32_t max)
{
	struct nx_str s;

	s.len = 3 + (uint32_t)nx_below(r, max - 3);
	s.p = nx_tab.pool + nx_below(r, NX_POOL_BYTES - s.len);
	return s;
}

/* Flink's nextExtra: pads the event towards desired bytes, +-20 %. */
static inline struct nx_str nx_extra(struct nx_rng *r, uint32_t current, uint32_t desired)
{
	struct nx_str s = {nx_tab.pool, 0};

	if (current >= desired)
		return s;
	uint32_t avg = desired - current, delta = (uint32_t)((avg * 2 + 5) / 10);
	s.len = avg - delta + (uint32_t)nx_below(r, 2 * delta + 1);
	if (s.len)
		s.p = nx_tab.pool + nx_below(r, NX_POOL_BYTES - s.len);
	return s;
}

/* Writes a pool-style URL base for table entry i; returns its length. */
static inline uint32_t nx_url_base(struct nx_rng *r, char *out)
{
	uint32_t n = (uint32_t)sprintf(out, "https://www.nexmark.com/");

	for (int part = 0; part < 3; part++) {
		struct nx_str s = nx_string(r, 5);
		for (uint32_t i = 0; i < s.len; i++)
			out[n++] = s.p[i] == ' ' ? '_' : s.p[i];
		out[n++] = '/';
	}
	n += (uint32_t)sprintf(out + n, "item.htm?query=1");
	return n;
}

static void nx_init_tables(void)
{
	struct nx_rng r = {NX_SEED};
	size_t url_len = 0;

	for (size_t i = 0; i < NX_POOL_BYTES; i++) {
		uint64_t x = nx_next(&r);
		nx_tab.pool[i] = (x % 13 == 0) ? ' ' : (char)('a' + (x >> 8) % 26);
	}
	for (int f = 0; f < 11; f++)
		for (int l = 0; l < 9; l++) {
			int i = f * 9 + l;
			nx_tab.name_len[i] =
			    (uint32_t)snprintf(nx_tab.names[i], sizeof(nx_tab.names[i]), "%s %s",
			                       nx_first_names[f], nx_last_names[l]);
		}
	for (uint32_t i = 0; i < NX_CHANNELS + 4; i++) {
		struct nx_rng cr = {NX_SEED ^ (0x100000000ull + i)};
		char *out = nx_tab.urls + url_len;
		uint32_t n = nx_url_base(&cr, out);
		if (i < NX_CHANNELS) {
			nx_tab.channel_len[i] = (uint32_t)snprintf(
			    nx_tab.channel[i], sizeof(nx_tab.channel[i]), "channel-%u", i);
			/* 90 % of the cached URLs carry the channel id, as Integer.reverse(i). */
			if (nx_below(&cr, 10) > 0) {
				uint32_t rev = 0;
				for (int b = 0; b < 32; b++)
					rev |= ((i >> b) & 1u) << (31 - b);
				int64_t id = (int32_t)rev;
				n += (uint32_t)sprintf(out + n, "&channel_id=%lld",
				                       (long long)(id < 0 ? -id : id));
			}
		}
		nx_tab.url_off[i] = (uint32_t)url_len;
		nx_tab.url_len[i] = n;
		url_len += n;
	}
}

static inline void nx_init(void)
{
	pthread_once(&nx_once, nx_init_tables);
}

static inline int64_t nx_last_person(int64_t e)
{
	int64_t epoch = e / NX_TOTAL_PROPORTION, off = e % NX_TOTAL_PROPORTION;

	if (off >= NX_PERSON_PROPORTION)
		off = NX_PERSON_PROPORTION - 1;
	return epoch * NX_PERSON_PROPORTION + off;
}

static inline int64_t nx_last_auction(int64_t e)
{
	int64_t epoch = e / NX_TOTAL_PROPORTION, off = e % NX_TOTAL_PROPORTION;

	if (off < NX_PERSON_PROPORTION) {
		epoch--;
		off = NX_AUCTION_PROPORTION - 1;
	} else if (off >= NX_PERSON_PROPORTION + NX_AUCTION_PROPORTION) {
		off = NX_AUCTION_PROPORTION - 1;
	} else {
		off -= NX_PERSON_PROPORTION;
	}
	return epoch * NX_AUCTION_PROPORTION + off;
}

static inline int64_t nx_next_person(struct nx_rng *r, int64_t e)
{
	int64_t people = nx_last_person(e) + 1;
	int64_t active = people < NX_ACTIVE_PEOPLE ? people : NX_ACTIVE_PEOPLE;

	return people - active + (int64_t)nx_below(r, (uint64_t)(active + NX_ID_LEAD));
}

static inline int64_t nx_next_auction(struct nx_rng *r, int64_t e)
{
	int64_t max = nx_last_auction(e);
	int64_t min = max - NX_IN_FLIGHT_AUCTIONS > 0 ? max - NX_IN_FLIGHT_AUCTIONS : 0;

	return min + (int64_t)nx_below(r, (uint64_t)(max - min + 1 + NX_ID_LEAD));
}

static inline int64_t nx_ts(int64_t e)
{
	return NX_BASE_TIME_MS + e / NX_EVENTS_PER_MS;
}

static inline int64_t nx_price(struct nx_rng *r)
{
	return (int64_t)llround(pow(10.0, nx_unit(r) * 6.0) * 100.0);
}

/* Four decimal digits of v (0..9999) at out. */
static inline void nx_digits4(char *out, uint32_t v)
{
	out[0] = (char)('0' + v / 1000);
	out[1] = (char)('0' + v / 100 % 10);
	out[2] = (char)('0' + v / 10 % 10);
	out[3] = (char)('0' + v % 10);
}

/* Fills *ev with event e (e >= 0). */
static inline void nx_event_make(int64_t e, struct nx_event *ev)
{
	struct nx_rng r = {bench_splitmix64_mix((uint64_t)e ^ NX_SEED)};
	int64_t rem = e % NX_TOTAL_PROPORTION;

	ev->ts_ms = nx_ts(e);
	if (rem < NX_PERSON_PROPORTION) {
		uint32_t i, n = 0;
		struct nx_str a, b;

		ev->kind = NX_PERSON;
		ev->id = nx_last_person(e) + NX_FIRST_ID;
		i = (uint32_t)nx_below(&r, 99);
		ev->name = (struct nx_str){nx_tab.names[i], nx_tab.name_len[i]};
		a = nx_string(&r, 7);
		b = nx_string(&r, 5);
		memcpy(ev->buf, a.p, a.len);
		n = a.len;
		ev->buf[n++] = '@';
		memcpy(ev->buf + n, b.p, b.len);
		n += b.len;
		memcpy(ev->buf + n, ".com", 4);
		ev->email = (struct nx_str){ev->buf, n + 4};
		for (int g = 0; g < 4; g++) {
			nx_digits4(ev->buf + 32 + 5 * g, (uint32_t)nx_below(&r, 10000));
			ev->buf[32 + 5 * g + 4] = ' ';
		}
		ev->credit_card = (struct nx_str){ev->buf + 32, 19};
		i = (uint32_t)nx_below(&r, 10);
		ev->city = (struct nx_str){nx_cities[i], (uint32_t)strlen(nx_cities[i])};
		i = (uint32_t)nx_below(&r, 6);
		ev->state = (struct nx_str){nx_states[i], 2};
		ev->extra =
		    nx_extra(&r, 16 + ev->name.len + ev->email.len + 19 + ev->city.len + 2, 200);
	} else if (rem < NX_PERSON_PROPORTION + NX_AUCTION_PROPORTION) {
		int64_t horizon;

		ev->kind = NX_AUCTION;
		ev->id = nx_last_auction(e) + NX_FIRST_ID;
		ev->item_name = nx_string(&r, 20);
		ev->description = nx_string(&r, 100);
		ev->initial_bid = nx_price(&r);
		ev->reserve = ev->initial_bid + nx_price(&r);
		horizon =
		    nx_ts(e + NX_IN_FLIGHT_AUCTIONS * NX_TOTAL_PROPORTION / NX_AUCTION_PROPORTION) -
		    ev->ts_ms;
		ev->expires_ms =
		    ev->ts_ms + 1 +
		    (int64_t)nx_below(&r, (uint64_t)(horizon * 2 > 1 ? horizon * 2 : 1));
		if (nx_below(&r, 4) > 0)
			ev->seller = nx_last_person(e) / NX_HOT_BATCH * NX_HOT_BATCH;
		else
			ev->seller = nx_next_person(&r, e);
		ev->seller += NX_FIRST_ID;
		ev->category = NX_FIRST_CATEGORY + (int64_t)nx_below(&r, NX_NUM_CATEGORIES);
		ev->extra = nx_extra(&r, 48 + ev->item_name.len + ev->description.len, 500);
	} else {
		uint32_t c;

		ev->kind = NX_BID;
		if (nx_below(&r, 2) > 0)
			ev->auction = nx_last_auction(e) / NX_HOT_BATCH * NX_HOT_BATCH;
		else
			ev->auction = nx_next_auction(&r, e);
		ev->auction += NX_FIRST_ID;
		if (nx_below(&r, 4) > 0)
			ev->bidder = nx_last_person(e) / NX_HOT_BATCH * NX_HOT_BATCH + 1;
		else
			ev->bidder = nx_next_person(&r, e);
		ev->bidder += NX_FIRST_ID;
		ev->price = nx_price(&r);
		if (nx_below(&r, 2) > 0) {
			c = (uint32_t)nx_below(&r, 4);
			ev->channel = (struct nx_str){nx_hot_channels[c],
			                              (uint32_t)strlen(nx_hot_channels[c])};
			c += NX_CHANNELS;
		} else {
			c = (uint32_t)nx_below(&r, NX_CHANNELS);
			ev->channel = (struct nx_str){nx_tab.channel[c], nx_tab.channel_len[c]};
		}
		ev->url = (struct nx_str){nx_tab.urls + nx_tab.url_off[c], nx_tab.url_len[c]};
		ev->extra = nx_extra(&r, 32 + ev->channel.len + ev->url.len, 100);
	}
}

/*
 * Per-output-row checksums of the queries, shared so that both sides agree. Each is at most
 * 20 bits, so a sum over billions of rows stays exact in a double (the harness adds the
 * subtasks' sums with awk). Strings are covered by length and end bytes, not every byte,
 * to keep the blackhole sink cheap.
 */
static inline uint64_t nx_str_sig(const char *p, size_t len)
{
	return len ? len * 1000003u + (unsigned char)p[0] * 131u + (unsigned char)p[len - 1] : 0;
}

static inline uint64_t nx_hash_q0(int64_t auction, int64_t bidder, int64_t price, int64_t ts,
                                  uint64_t extra_sig)
{
	uint64_t h = bench_splitmix64_mix((uint64_t)auction * 31 + (uint64_t)bidder);
	h = bench_splitmix64_mix(h ^ ((uint64_t)price + (uint64_t)ts * 7));
	h = bench_splitmix64_mix(h ^ extra_sig);
	return h & 0xfffff;
}

static inline uint64_t nx_hash_q1(int64_t auction, int64_t bidder, double price, int64_t ts,
                                  uint64_t extra_sig)
{
	uint64_t h = bench_splitmix64_mix((uint64_t)auction * 31 + (uint64_t)bidder);
	h = bench_splitmix64_mix(h ^ ((uint64_t)llround(price * 1000.0) + (uint64_t)ts * 7));
	h = bench_splitmix64_mix(h ^ extra_sig);
	return h & 0xfffff;
}

static inline uint64_t nx_hash_q2(int64_t auction, int64_t price)
{
	return bench_splitmix64_mix((uint64_t)auction * 31 + (uint64_t)price) & 0xfffff;
}

static inline uint64_t nx_hash_q3(uint64_t name_sig, uint64_t city_sig, uint64_t state_sig,
                                  int64_t id)
{
	uint64_t h = bench_splitmix64_mix(name_sig * 7 + city_sig * 3 + state_sig);
	return bench_splitmix64_mix(h ^ (uint64_t)id) & 0xfffff;
}

/* q1's currency conversion and q2's and q3's predicates. */
static inline double nx_q1_price(int64_t price)
{
	return 0.908 * (double)price;
}

static inline int nx_q2_keep(int64_t auction)
{
	return auction % 123 == 0;
}

static inline int nx_q3_state(const char *s, size_t len)
{
	return len == 2 && ((s[0] == 'O' && s[1] == 'R') || (s[0] == 'I' && s[1] == 'D') ||
	                    (s[0] == 'C' && s[1] == 'A'));
}

#endif /* NEXMARK_GEN_H */
