/* curpkv.h: the public client API of curpkv, a replicated key-value store (CURP protocols).
 *
 * A handle connects to the cluster described by a curpkv conf file (through its master) and owns
 * one session: a unique client id and one ordered connection to every replica. Calls are
 * synchronous: each runs the handle's private event loop until the operation completes or the
 * conf's replyTimeout passes. Operations are strong (linearizable).
 *
 * Threading: a handle must be used by one thread at a time; open one handle per thread.
 * Errors are negative errno values; 0 is success. -EIO means the cluster refused the operation
 * and did not apply it (for instance: the replicas hold another command under its id, a client id
 * handed out twice; docs/recovery.md "Client ids"); it is never returned for an operation that
 * may have been applied. -ESTALE means the same for a refusal because the handle's client id had
 * expired at the replicas (the handle was idle, or cut off, longer than the conf's clientLeaseMs:
 * docs/recovery.md "Client leases"): the operation was not applied, the handle has taken a new
 * id, and the operation may be called again. (An operation that was re-sent before such a
 * refusal returns -ETIMEDOUT: an earlier send may have been applied.) -EACCES means
 * authentication failed: the conf's secret (secret, secretFile) is not the cluster's, or one side
 * has a secret and the other none.
 *
 * Build: cc prog.c $(pkg-config --cflags --libs curpkv)
 */
#ifndef CURPKV_H
#define CURPKV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct curpkv_client curpkv_client;

/* Returns the library version, e.g. "0.1.0". */
const char *curpkv_version(void);

/* Loads conf_path, connects and waits until the cluster is ready and the session is open.
 * alias names this client in the conf's Clients section (NULL = none). On failure *out is NULL
 * and the return value is -ENOENT (no such conf file), -EINVAL (the conf has errors: they are
 * printed on stderr), -EACCES (authentication failed), -ETIMEDOUT (no ready cluster within
 * replyTimeout) or -ENOMEM. */
int curpkv_open(const char *conf_path, const char *alias, curpkv_client **out);

/* Closes the connections and frees the handle (NULL is allowed). */
void curpkv_close(curpkv_client *c);

/* Stores val (vlen bytes) under key. Returns 0, -EINVAL (key or value above the conf's limits),
 * -ETIMEDOUT (no answer: the write may or may not have been applied) or -EIO (refused). */
int curpkv_put(curpkv_client *c, const void *key, size_t klen, const void *val, size_t vlen);

/* Appends val (vlen bytes) to key's value (a missing key counts as empty), exactly once even
 * when the request is re-sent. Protocol curp only. Returns 0, -EINVAL (limits, or another
 * protocol), -ETIMEDOUT (no answer: it may or may not have been applied) or -EIO (refused: the
 * value would exceed maxValueBytes, nothing changed). */
int curpkv_append(curpkv_client *c, const void *key, size_t klen, const void *val, size_t vlen);

/* Reads key. On success copies min(value length, cap) bytes into buf and sets *vlen to the full
 * value length (call again with a larger buffer if *vlen > cap). Returns 0, -ENOENT (no such key),
 * -EINVAL, -ETIMEDOUT or -EIO. */
int curpkv_get(curpkv_client *c, const void *key, size_t klen, void *buf, size_t cap,
	       size_t *vlen);

/* Deletes key (deleting a missing key succeeds). Returns 0, -EINVAL, -ETIMEDOUT or -EIO. */
int curpkv_del(curpkv_client *c, const void *key, size_t klen);

/* Reads up to count (1..1000000) existing keys from key on, in byte order, with their values (a
 * strong SCAN: ordered by the leader and read when it executes). On success copies min(result
 * length, cap) bytes of the result into buf and sets *len to its full length. The result holds
 * fewer than count keys when the next one would take it past the conf's maxValueBytes: continue
 * from just after the last key. Walk it with curpkv_scan_next. Returns 0, -EINVAL, -ETIMEDOUT or
 * -EIO. */
int curpkv_scan(curpkv_client *c, const void *key, size_t klen, unsigned count, void *buf,
		size_t cap, size_t *len);

/* Reads the key/value pair at *off of a scan result buf[0..len) (pointers into buf) and advances
 * *off; start with *off = 0. Returns 1 (a pair), 0 (the end) or -EBADMSG (truncated: buf was
 * smaller than the result). */
int curpkv_scan_next(const void *buf, size_t len, size_t *off, const void **key, size_t *klen,
		     const void **val, size_t *vlen);

#ifdef __cplusplus
}
#endif

#endif
