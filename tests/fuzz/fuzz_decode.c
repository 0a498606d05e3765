/*
 * fuzz_decode.c - libFuzzer target for the CBOR decoder (the trust
 * boundary) and the validators that read decoded values.
 *
 * Invariants checked (abort on violation):
 *   - oc_decode returns O_OK, O_EBADMSG or O_ETOOBIG; on error the output
 *     is OC_NULL.
 *   - accepted input is canonical: re-encoding gives the same bytes.
 *   - a value accepted as a transform set (or transform) converts back to
 *     exactly the decoded value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/block.h"
#include "core/codec.h"
#include "core/transform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_decode: invariant broken: %s\n", what);
		abort();
	}
}

static volatile size_t sink;

static void
check_tfs(const struct oc_val *v)
{
	struct oc_tfs t;
	struct oc_val back;

	if (oc_tfs_from_val(v, &t) != O_OK) {
		check(t.n == 0 && t.e == NULL, "tfs left non-empty on error");
		return;
	}
	back = oc_tfs_to_val(&t);
	check(oc_val_eq(&back, v), "tfs to_val(from_val(v)) != v");
	sink += t.n + oc_tfs_is_empty(&t);
	oc_val_fini(&back);
	oc_tfs_fini(&t);
}

static void
check_tf(const struct oc_val *v)
{
	struct oc_tf  tf;
	struct oc_val back;

	if (oc_tf_from_val(v, &tf) != O_OK) {
		check(oc_tf_is_empty(&tf), "tf left non-empty on error");
		return;
	}
	back = oc_tf_to_val(&tf);
	check(oc_val_eq(&back, v), "tf to_val(from_val(v)) != v");
	sink += tf.nops;
	oc_val_fini(&back);
	oc_tf_fini(&tf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oc_val v;
	struct o_buf  buf = { 0 };
	o_err         e;
	size_t        i;

	e = oc_decode(data, size, &v);
	check(e == O_OK || e == O_EBADMSG || e == O_ETOOBIG,
	    "unexpected decode error code");
	if (e != O_OK) {
		check(v.type == OC_NULL, "output not null after error");
		check(strstr(o_err_detail(), "byte") != NULL ||
		        strstr(o_err_detail(), "exceeds") != NULL,
		    "error detail does not name an offset");
		return 0;
	}
	oc_encode(&v, &buf);
	check(buf.len == size && memcmp(buf.data, data, size) == 0,
	    "accepted input is not canonical");
	o_buf_fini(&buf);

	if (oc_block_validate(&v) == O_OK) {
		struct oc_bid id;

		check(oc_block_id(&v, &id), "valid block without id");
		check(oc_block_type(&v) != NULL, "valid block without type");
		sink += id.b[0];
	}
	check_tfs(&v);
	check_tf(&v);
	/* a set's entries and a block's fields may be transforms themselves */
	if (v.type == OC_ARRAY)
		for (i = 0; i < v.u.a.n; i++)
			check_tf(&v.u.a.v[i]);
	oc_val_fini(&v);
	return 0;
}
