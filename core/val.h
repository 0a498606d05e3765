/*
 * val.h - the document model of blocks: a small dynamic value tree.
 *
 * A block is an OC_MAP whose keys are text.  Values are null, bool, 64-bit
 * signed integers, byte strings, text, arrays and maps: exactly what the
 * deterministic CBOR codec (codec.h) reads and writes, so every value has
 * one encoding.  Maps keep their keys in deterministic CBOR order (shorter
 * key first, then bytewise), so encoding never sorts.
 *
 * Ownership: a struct oc_val owns everything below it.  Functions that take
 * a `struct oc_val v` by value *move* it (the caller must not use or free
 * it afterwards).  oc_val_fini() frees the contents and leaves OC_NULL.
 * Allocation failure aborts (o_malloc), so construction cannot fail.
 * Byte and text contents are immutable and shared (reference counted)
 * between copies: never write through u.s.p.
 * Nothing here locks; a value is used by one thread at a time.
 */
#ifndef OC_VAL_H
#define OC_VAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum oc_vtype {
	OC_NULL = 0,
	OC_BOOL,
	OC_INT,
	OC_BYTES,
	OC_TEXT,
	OC_ARRAY,
	OC_MAP,
};

struct oc_kv;

struct oc_val {
	uint8_t type; /* enum oc_vtype */
	union {
		bool    b;
		int64_t i;
		struct {
			uint8_t *p; /* TEXT is NUL-terminated; n excludes it */
			size_t   n;
		} s;
		struct {
			struct oc_val *v;
			size_t         n, cap;
		} a;
		struct {
			struct oc_kv *kv;
			size_t        n, cap;
		} m;
	} u;
};

struct oc_kv {
	struct oc_val key; /* always OC_TEXT */
	struct oc_val val;
};

/* Constructors (copy their input bytes). */
struct oc_val oc_null(void);
struct oc_val oc_bool(bool b);
struct oc_val oc_int(int64_t i);
struct oc_val oc_bytes(const void *p, size_t n);
struct oc_val oc_text(const char *s);
struct oc_val oc_textn(const char *s, size_t n);
struct oc_val oc_array(void);
struct oc_val oc_map(void);

void          oc_val_fini(struct oc_val *v);
struct oc_val oc_val_dup(const struct oc_val *v);
/* Approximate bytes of memory v holds (for cache budgets). */
size_t oc_val_footprint(const struct oc_val *v);
/* oc_val_footprint of a text or bytes value of n bytes (a map's key). */
size_t        oc_val_str_footprint(size_t n);
bool          oc_val_eq(const struct oc_val *a, const struct oc_val *b);
/* Move: returns *v and leaves OC_NULL behind. */
struct oc_val oc_val_take(struct oc_val *v);

/* Arrays.  Indices are checked by the caller (asserted here). */
void           oc_arr_push(struct oc_val *a, struct oc_val v);
/* Give back reserved slots beyond cap (never below the length). */
void           oc_arr_shrink(struct oc_val *a, size_t cap);
struct oc_val *oc_arr_at(const struct oc_val *a, size_t i);
size_t         oc_arr_len(const struct oc_val *a);
/*
 * Remove `del` items at `idx` and insert the n items of `ins` there (moved).
 * Returns false (and changes nothing, moving nothing) when idx+del exceeds
 * the array.
 */
bool oc_arr_splice(struct oc_val *a, size_t idx, size_t del,
    struct oc_val *ins, size_t n);

/* Maps with text keys. */
void           oc_map_set(struct oc_val *m, const char *key, struct oc_val v);
struct oc_val *oc_map_get(const struct oc_val *m, const char *key);
bool           oc_map_del(struct oc_val *m, const char *key);
/* Typed getters: NULL / dflt when the key is absent or of another type. */
int64_t        oc_map_int(const struct oc_val *m, const char *key, int64_t d);
/* The boolean at key, or d when absent or not a boolean. */
bool oc_map_bool(const struct oc_val *m, const char *key, bool d);
const struct oc_val *oc_map_bytes(const struct oc_val *m, const char *key);
const char          *oc_map_text(const struct oc_val *m, const char *key);
const struct oc_val *oc_map_arr(const struct oc_val *m, const char *key);

/* Deterministic key order: by length, then bytewise.  <0, 0, >0. */
int oc_key_cmp(const char *a, size_t an, const char *b, size_t bn);
/* Byte-string order used by tree keys: bytewise, then shorter first. */
int oc_bytes_cmp(const void *a, size_t an, const void *b, size_t bn);

#endif /* OC_VAL_H */
