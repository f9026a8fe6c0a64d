/* oset: an ordered set of byte-string keys (a skip list), for key-order iteration (SCAN). */
#ifndef CURPKV_OSET_H
#define CURPKV_OSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Keys are compared bytewise (memcmp), a proper prefix first; "" is the smallest key. The set
 * copies the keys it stores. Insert, remove and seek are O(log n) expected; a node costs
 * 16 bytes + 8 per level (1.33 levels on average) + the key.
 *
 * Threading: none inside; one thread owns a set (the replica core's loop).
 */

struct oset;
struct oset_node;

/* Creates an empty set; seed drives the level coin (any value; the same seed gives the same
 * shape). Returns 0 or -ENOMEM. */
int oset_create(uint64_t seed, struct oset **out);
/* Frees the set and every key it holds. NULL is allowed. */
void oset_destroy(struct oset *s);

/* Adds a copy of key. Returns 1 if added, 0 if it was present, -ENOMEM. */
int oset_insert(struct oset *s, const void *key, size_t klen);
/* Removes key. Returns true if it was present. Invalidates nodes pointing at it. */
bool oset_remove(struct oset *s, const void *key, size_t klen);
/* True if key is present. */
bool oset_contains(const struct oset *s, const void *key, size_t klen);
/* Number of keys. */
size_t oset_size(const struct oset *s);

/* The first key >= key (NULL: none). The node is valid until the set is next changed. */
const struct oset_node *oset_seek(const struct oset *s, const void *key, size_t klen);
/* The key after n in order (NULL: n was the last). */
const struct oset_node *oset_next(const struct oset_node *n);
/* n's key bytes (owned by the set) and their length. */
const uint8_t *oset_key(const struct oset_node *n, size_t *klen);

#endif
