/*
 * wire.h - the peer protocol's messages (docs/PROTOCOL.md has the tables).
 *
 * A message is one deterministic CBOR map (core/codec.h), at most
 * OTR_MSG_MAX bytes.  A request is {v: OTR_WIRE_VERSION, op: {t: NAME,
 * ...}} and its answer {v: OTR_WIRE_VERSION, e: int, d: text, ...}: e is
 * the o_err code (0 = O_OK, the numbering of core/o_err.h is part of the
 * protocol), d its detail.
 *
 * The functions below turn the transactor's C structures into map fields
 * and back.  Decoders are the trust boundary for bytes from the network:
 * every field is type- and shape-checked, and a bad message is O_EBADMSG
 * with a detail naming the field; nothing is trusted to be well formed.
 */
#ifndef OTR_WIRE_H
#define OTR_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/o_err.h"
#include "core/o_util.h"
#include "core/transactor.h"
#include "core/val.h"

/* 2: batches, and feed messages of many collections; 3: a pend's base
 * (compare and set), which a replica of version 2 would ignore; 4: member
 * cards in hellos (a node of version 3 would send none and be refused
 * member by member); 5: a pend's expiry as a time to live (ttl), not a
 * wall-clock time.  Nodes of different versions refuse each other's
 * messages, naming both. */
#define OTR_WIRE_VERSION 5
#define OTR_MSG_MAX      (60u << 20) /* bytes per message (codec: 64 MiB) */
#define OTR_IDS_MAX      65536       /* block ids per request */

/* Operation names (the "t" field). */
#define OTR_T_GET     "get"
#define OTR_T_PEND    "pend"
#define OTR_T_COMMIT  "commit"
#define OTR_T_CANCEL  "cancel"
#define OTR_T_STATUS  "status"
#define OTR_T_INSTALL "install"
#define OTR_T_HELLO   "hello"
/* Several requests in one message (PROTOCOL.md §2): {t: "batch", ops:
 * [bytes...]}, each element a whole encoded request; the answer's r holds
 * one encoded answer per element, in order.  Only pend, commit, cancel and
 * status ride in a batch, at most OTR_BATCH_OPS of them. */
#define OTR_T_BATCH   "batch"
#define OTR_BATCH_OPS 1024

/* Whether operation t may ride in a batch (its answer is small). */
bool otr_wire_batchable(const char *t);

/* Envelope.  Takes op (moved); appends the encoding to out. */
void  otr_wire_request(struct oc_val *op, struct o_buf *out);
/* Decode a request: *op gets the "op" map (caller finis). */
o_err otr_wire_parse_request(const uint8_t *p, size_t n, struct oc_val *op);
/* An answer map with e and d set; the caller adds fields and encodes. */
struct oc_val otr_wire_answer(o_err e, const char *detail);
/* Decode an answer: *ans the map, *e its code, detail copied (may be NULL). */
o_err otr_wire_parse_answer(const uint8_t *p, size_t n, struct oc_val *ans,
    o_err *e, char *detail, size_t cap);

/* Field helpers (set into / read from map m). */
void  otr_put_ids(struct oc_val *m, const char *k, const struct oc_bid *ids,
     size_t n);
o_err otr_get_ids(const struct oc_val *m, const char *k, struct oc_bid **ids,
    size_t *n);
o_err otr_get_bid(const struct oc_val *m, const char *k, struct oc_bid *out);
o_err otr_get_aid(const struct oc_val *m, const char *k, struct oc_aid *out);
o_err otr_get_int(const struct oc_val *m, const char *k, int64_t *out);
o_err otr_get_text(const struct oc_val *m, const char *k, char *out,
    size_t cap);

void  otr_put_actx(struct oc_val *m, const char *k, const struct oc_actx *c);
o_err otr_get_actx(const struct oc_val *m, const char *k, struct oc_actx *c,
    bool *present);

void  otr_put_txres(struct oc_val *m, const char *k, const struct oc_txres *r);
o_err otr_get_txres(const struct oc_val *m, const char *k, struct oc_txres *r);

void  otr_put_getres(struct oc_val *m, const char *k,
     const struct oc_get_res *r, size_t n);
/* Exactly n results expected (else O_EBADMSG); out[n] initialised here. */
o_err otr_get_getres(const struct oc_val *m, const char *k,
    struct oc_get_res *out, size_t n);

#endif /* OTR_WIRE_H */
