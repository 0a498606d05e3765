/*
 * block.h - block ids, action ids and the block header.
 *
 * A block is an OC_MAP.  Every block carries three header fields; all other
 * fields depend on its type (field tables in docs/ARCHITECTURE.md):
 *
 *   field  CBOR     meaning
 *   "id"   bytes32  block id: 32 random bytes, stable across revisions
 *   "type" text     block type code (OC_BT_*)
 *   "col"  bytes32  id of the collection the block belongs to
 *
 * A collection's header block id equals the collection id.
 */
#ifndef OC_BLOCK_H
#define OC_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/o_err.h"
#include "core/val.h"

#define OC_BID_LEN 32
#define OC_AID_LEN 16
#define OC_BID_STRLEN 53 /* base32, 52 chars + NUL */
#define OC_AID_STRLEN 27

struct oc_bid {
	uint8_t b[OC_BID_LEN];
};

struct oc_aid {
	uint8_t b[OC_AID_LEN];
};

/* Block type codes. */
#define OC_BT_DIARY "DIH"  /* diary collection header (+ log header) */
#define OC_BT_TREE "TRE"   /* tree collection header (+ log header, trunk) */
#define OC_BT_LOG "LGD"    /* log data block */
#define OC_BT_LEAF "TL"    /* B+tree leaf */
#define OC_BT_BRANCH "TB"  /* B+tree branch */
#define OC_BT_CHUNK "CHK"  /* data chunk of a large value */

/* Header field names. */
#define OC_F_ID "id"
#define OC_F_TYPE "type"
#define OC_F_COL "col"

/* Largest encoded block we ever create (the diary/tree chunking bound). */
#define OC_BLOCK_MAX (1u << 20)

void oc_bid_random(struct oc_bid *id);
void oc_aid_random(struct oc_aid *id);
int  oc_bid_cmp(const struct oc_bid *a, const struct oc_bid *b);
bool oc_bid_eq(const struct oc_bid *a, const struct oc_bid *b);
bool oc_aid_eq(const struct oc_aid *a, const struct oc_aid *b);
bool oc_bid_is_zero(const struct oc_bid *a);
bool oc_aid_is_zero(const struct oc_aid *a);
/* base32 (RFC 4648 alphabet, lower case, no padding) for logs and paths */
char *oc_bid_str(const struct oc_bid *id, char out[OC_BID_STRLEN]);
char *oc_aid_str(const struct oc_aid *id, char out[OC_AID_STRLEN]);
bool  oc_bid_parse(const char *s, struct oc_bid *out);

/* As CBOR byte strings. */
struct oc_val oc_bid_val(const struct oc_bid *id);
struct oc_val oc_aid_val(const struct oc_aid *id);
bool          oc_bid_from(const struct oc_val *v, struct oc_bid *out);
bool          oc_aid_from(const struct oc_val *v, struct oc_aid *out);
/* Read a bytes32 field of a map; false when absent/null or wrongly typed. */
bool oc_map_bid(const struct oc_val *m, const char *key, struct oc_bid *out);

/* A set of block ids (open addressing; zero-initialised is empty). */
struct oc_bidset {
	struct oc_bid *v;
	bool          *used;
	size_t         n, cap; /* cap: 0 or a power of two */
};
/* Add *id; false when it was already there. */
bool oc_bidset_add(struct oc_bidset *s, const struct oc_bid *id);
bool oc_bidset_has(const struct oc_bidset *s, const struct oc_bid *id);
/* Room for n ids: until then no add moves any (slots stay). */
void oc_bidset_reserve(struct oc_bidset *s, size_t n);
/* The slot (< cap) of *id, added if missing. */
size_t oc_bidset_slot(struct oc_bidset *s, const struct oc_bid *id);
void oc_bidset_clear(struct oc_bidset *s); /* empty, keeps its room */
void oc_bidset_fini(struct oc_bidset *s);

/* A new block with its header fields set. */
struct oc_val oc_block_new(const struct oc_bid *id, const char *type,
    const struct oc_bid *col);
bool        oc_block_id(const struct oc_val *blk, struct oc_bid *out);
const char *oc_block_type(const struct oc_val *blk);

/*
 * Check that blk is a well-formed block: header fields present and typed,
 * and the fields of its type (OC_BT_*) present with the right CBOR types and
 * within their bounds.  O_EBADMSG with a detail naming block and field.
 */
o_err oc_block_validate(const struct oc_val *blk);

#endif /* OC_BLOCK_H */
