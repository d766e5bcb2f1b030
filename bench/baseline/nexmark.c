/*
 * nexmark.c - COST baseline of Nexmark q0..q3: one loop that generates every event with the
 * shared generator and applies the query inline.
 *
 * Usage: baseline_nexmark QUERY N, QUERY one of q0 q1 q2 q3. Prints "RESULT events=<N>
 * out=<rows to the blackhole sink> checksum=<sum of the rows' nx_hash_*>" and
 * "Runtime: <ms> ms".
 *
 *   q0: (auction, bidder, price, dateTime, extra) of every bid
 *   q1: the same with price * 0.908
 *   q2: (auction, price) of the bids with auction % 123 == 0
 *   q3: (name, city, state, auction id) for every auction of category 10 whose seller is a
 *       person from OR, ID or CA: an unbounded inner join, so each side is kept until its
 *       partner arrives (a person is never repeated, so a matched auction is not kept)
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench_clock.h"
#include "bench_map.h"
#include "nexmark_gen.h"

struct person_row {
	struct nx_str name, city, state;
};

struct pending_auction {
	int64_t id;
	int64_t next; /* index + 1 of the next auction of the same seller, 0 at the end */
};

struct q3_state {
	struct u64map persons;   /* person id -> index + 1 into rows */
	struct u64map pending;   /* seller id -> index + 1 of its latest pending auction */
	struct person_row *rows; /* owned */
	size_t nrows, cap_rows;
	struct pending_auction *auctions; /* owned */
	size_t nauctions, cap_auctions;
};

static uint64_t q3_emit(const struct person_row *p, int64_t auction)
{
	return nx_hash_q3(nx_str_sig(p->name.p, p->name.len), nx_str_sig(p->city.p, p->city.len),
	                  nx_str_sig(p->state.p, p->state.len), auction);
}

int main(int argc, char **argv)
{
	int64_t n = argc > 2 ? bench_parse_count(argv[2]) : -1;
	int q = -1;
	uint64_t out = 0, checksum = 0, t0;
	struct q3_state st;

	if (argc > 2 && argv[1][0] == 'q' && argv[1][1] >= '0' && argv[1][1] <= '3' && !argv[1][2])
		q = argv[1][1] - '0';
	if (q < 0 || n < 0) {
		fprintf(stderr, "usage: baseline_nexmark q0|q1|q2|q3 N\n");
		return 2;
	}
	nx_init();
	memset(&st, 0, sizeof(st));
	t0 = bench_now_ns();
	if (q == 3) {
		u64map_init(&st.persons, 1024);
		u64map_init(&st.pending, 1024);
	}
	for (int64_t e = 0; e < n; e++) {
		struct nx_event ev;
		nx_event_make(e, &ev);
		switch (q) {
		case 0:
			if (ev.kind != NX_BID)
				break;
			out++;
			checksum += nx_hash_q0(ev.auction, ev.bidder, ev.price, ev.ts_ms,
			                       nx_str_sig(ev.extra.p, ev.extra.len));
			break;
		case 1:
			if (ev.kind != NX_BID)
				break;
			out++;
			checksum += nx_hash_q1(ev.auction, ev.bidder, nx_q1_price(ev.price),
			                       ev.ts_ms, nx_str_sig(ev.extra.p, ev.extra.len));
			break;
		case 2:
			if (ev.kind != NX_BID || !nx_q2_keep(ev.auction))
				break;
			out++;
			checksum += nx_hash_q2(ev.auction, ev.price);
			break;
		default:
			if (ev.kind == NX_PERSON && nx_q3_state(ev.state.p, ev.state.len)) {
				if (st.nrows == st.cap_rows) {
					st.cap_rows = st.cap_rows ? 2 * st.cap_rows : 1024;
					st.rows =
					    bench_xrealloc(st.rows, st.cap_rows * sizeof(*st.rows));
				}
				struct person_row *p = &st.rows[st.nrows++];
				p->name = ev.name;
				p->city = ev.city;
				p->state = ev.state;
				*u64map_upsert(&st.persons, (uint64_t)ev.id) = (int64_t)st.nrows;
				int64_t *head = u64map_find(&st.pending, (uint64_t)ev.id);
				for (int64_t a = head ? *head : 0; a; a = st.auctions[a - 1].next) {
					out++;
					checksum += q3_emit(p, st.auctions[a - 1].id);
				}
				if (head)
					*head = 0;
			} else if (ev.kind == NX_AUCTION && ev.category == 10) {
				int64_t *pi = u64map_find(&st.persons, (uint64_t)ev.seller);
				if (pi) {
					out++;
					checksum += q3_emit(&st.rows[*pi - 1], ev.id);
					break;
				}
				if (st.nauctions == st.cap_auctions) {
					st.cap_auctions =
					    st.cap_auctions ? 2 * st.cap_auctions : 1024;
					st.auctions = bench_xrealloc(
					    st.auctions, st.cap_auctions * sizeof(*st.auctions));
				}
				int64_t *head = u64map_upsert(&st.pending, (uint64_t)ev.seller);
				st.auctions[st.nauctions].id = ev.id;
				st.auctions[st.nauctions].next = *head;
				*head = (int64_t)++st.nauctions;
			}
			break;
		}
	}
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	printf("RESULT events=%" PRId64 " out=%" PRIu64 " checksum=%" PRIu64 "\n", n, out,
	       checksum);
	printf("Runtime: %.3f ms\n", ms);
	if (q == 3) {
		u64map_release(&st.persons);
		u64map_release(&st.pending);
		free(st.rows);
		free(st.auctions);
	}
	return 0;
}
