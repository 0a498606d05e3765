/*
 * crash_diary.c - appends to a diary until killed.
 *
 *   crash_diary DIR ID_HEX START
 * Opens (creating) the repository in DIR and the diary with the given id,
 * then loops: append lines "n=<k>" (k from START up) in batches of 1..8,
 * sync, and after each successful sync print "acked <k>" for the last line
 * of the batch on stdout (unbuffered).  Runs until SIGKILL.
 */
#include <stdio.h>
#include <string.h>

#include "core/diary.h"
#include "store/local.h"
#include "store/repo.h"

int
main(int argc, char **argv)
{
	struct ost_repo      *r;
	struct oc_collection *c;
	struct oc_bid         id;
	long long             k;
	o_err                 e;
	int                   i;

	if (argc != 4 || strlen(argv[2]) != 64) {
		fprintf(stderr, "usage: crash_diary DIR ID_HEX START\n");
		return 2;
	}
	for (i = 0; i < 32; i++) {
		unsigned x;

		sscanf(argv[2] + 2 * i, "%2x", &x);
		id.b[i] = (uint8_t) x;
	}
	k = atoll(argv[3]);
	setvbuf(stdout, NULL, _IONBF, 0);
	if ((e = ost_repo_open(argv[1], NULL, &r)) != O_OK ||
	    (e = oc_diary_open(ost_local_transactor(r), &id, true, NULL, &c)) !=
	        O_OK) {
		fprintf(stderr, "crash_diary: %s\n", o_err_detail());
		return 1;
	}
	printf("ready\n");
	for (;;) {
		int  n = 1 + (int) (o_rand64() % 8);
		char line[32];

		for (i = 0; i < n; i++) {
			int len = snprintf(line, sizeof(line), "n=%lld", k++);

			if ((e = oc_diary_append(c, line, (size_t) len)) != O_OK)
				break;
		}
		if (e == O_OK)
			e = oc_coll_sync(c);
		if (e != O_OK) {
			fprintf(stderr, "crash_diary: %s\n", o_err_detail());
			return 1;
		}
		printf("acked %lld\n", k - 1);
	}
}
