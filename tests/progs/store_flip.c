/*
 * store_flip.c - corrupt stored records offline, for the end-to-end
 * corruption test (tests/e2e/test_corrupt.sh).
 *
 *   store_flip STOREDIR NEEDLE
 *
 * Opens the RocksDB store in STOREDIR (the daemon must not be running),
 * and in the "mat" and "rev" families flips one bit in the middle of the
 * first occurrence of NEEDLE in every stored value that contains it,
 * writing the value back raw (its checksum no longer matches, as after a
 * bad disk).  Prints "flipped FAMILY KEYHEX" per record.
 *
 * Exit status: 0 if at least one record was flipped; 1 if none contains
 * NEEDLE; 2 on a store error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/o_util.h"
#include "store/rdb.h"

/* Flip a byte in every record of cf containing needle; -1 on error. */
static int
flip_family(struct ost_rdb *db, enum ost_cf cf, const char *needle)
{
	struct ost_it *it;
	struct ost_wb  wb;
	struct ost_wb *wbp  = &wb;
	size_t         nlen = strlen(needle), kn, vn;
	const uint8_t *k, *v, *hit;
	uint8_t       *copy;
	char           hex[2 * OST_KEY_MAX + 1];
	int            n = 0;
	o_err          e;

	ost_wb_init(&wb);
	if ((e = ost_it_open(db, cf, NULL, 0, NULL, 0, &it)) != O_OK)
		goto out_fail;
	for (ost_it_first(it); ost_it_valid(it); ost_it_next(it)) {
		k   = ost_it_key(it, &kn);
		v   = ost_it_val_raw(it, &vn);
		hit = memmem(v, vn, needle, nlen);
		if (hit == NULL || kn > OST_KEY_MAX)
			continue;
		copy = o_malloc(vn);
		memcpy(copy, v, vn);
		copy[(size_t) (hit - v) + nlen / 2] ^= 0x01;
		ost_wb_put_raw(&wb, cf, k, kn, copy, vn);
		free(copy);
		printf(
		    "flipped %s %s\n", ost_rdb_cf_name(cf), o_hex(k, kn, hex));
		n++;
	}
	e = ost_it_status(it);
	ost_it_close(it);
	if (e == O_OK)
		e = ost_rdb_write(db, &wbp, 1, true);
	if (e != O_OK)
		goto out_fail;
	ost_wb_fini(&wb);
	return n;

out_fail:
	fprintf(stderr, "store_flip: %s: %s\n", o_errname(e), o_err_detail());
	ost_wb_fini(&wb);
	return -1;
}

int
main(int argc, char **argv)
{
	struct ost_rdb *db;
	int             a, b;
	o_err           e;

	if (argc != 3 || argv[2][0] == '\0') {
		fprintf(stderr, "usage: store_flip STOREDIR NEEDLE\n");
		return 2;
	}
	if ((e = ost_rdb_open(argv[1], &db)) != O_OK) {
		fprintf(stderr, "store_flip: %s: %s\n", o_errname(e),
		    o_err_detail());
		return 2;
	}
	a = flip_family(db, OST_CF_MAT, argv[2]);
	b = a < 0 ? -1 : flip_family(db, OST_CF_REV, argv[2]);
	ost_rdb_close(db);
	if (a < 0 || b < 0)
		return 2;
	return a + b > 0 ? 0 : 1;
}
