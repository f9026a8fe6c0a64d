/* wal: a write-ahead log of opaque records in preallocated, checksummed segment files. */
#ifndef CURPKV_WAL_H
#define CURPKV_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

/*
 * The log is a directory of segment files `wal-<first LSN, 16 hex digits>.log` (format:
 * docs/durability.md, "WAL format"). Records are (LSN, type, payload) with consecutive LSNs from
 * 1; what a type or a payload means is the caller's business.
 *
 * Life cycle: wal_open, then wal_replay exactly once (it finds the end of the log), then any
 * number of wal_append ... wal_commit rounds, then wal_close. One struct wal is used by ONE
 * thread (the caller's); under WAL_FSYNC_EVERYSEC the module also owns a background thread
 * that only ever calls fdatasync on a duplicate of the current segment's descriptor.
 *
 * Errors: every fallible call returns 0 or a negative errno. Damage found on disk is -EBADMSG
 * (unknown format version: -EPROTONOSUPPORT) with a text `<dir>/<file>:<offset>: <what>`.
 * A failed write or fdatasync makes the wal unusable: every later call returns the same error
 * (a failed fsync may have dropped the dirty pages: it is never retried as if it had worked;
 * the caller stops the process). wal_error() holds the text of the last error.
 *
 * Invariant on disk: every segment but the last is synced in full before the next one is
 * created, so only the last segment can end in a torn write.
 */

enum wal_fsync {
	WAL_FSYNC_ALWAYS,   /* wal_commit returns after fdatasync: nothing committed is lost */
	WAL_FSYNC_EVERYSEC, /* a background thread syncs once a second: may lose ~1 s */
	WAL_FSYNC_NO,	    /* written, the kernel syncs when it likes */
};

/* Parses the conf words "always", "everysec", "no". Returns 0 or -EINVAL. */
int wal_fsync_parse(const char *word, enum wal_fsync *out);
/* The conf word of f ("always"...). */
const char *wal_fsync_name(enum wal_fsync f);

enum wal_mode {
	WAL_MODE_NORMAL, /* a torn tail is truncated (one log line); damage elsewhere refuses */
	WAL_MODE_CHECK,	 /* read-only: a torn tail is reported (wal_dropped), never changed;
			    appends fail -EROFS; a shared lock, so a running owner refuses it */
	WAL_MODE_REPAIR, /* `wal-check --truncate`: the first damage of any kind (not an unknown
			    version) is cut off like a torn tail, later segments removed */
	/* `wal-check --truncate` asks first: read-only and locked as CHECK, but wal_open and
	 * wal_replay find REPAIR's cut and stop there (returning 0), so that wal_dropped and
	 * wal_next_lsn say what REPAIR would drop and where the log would end */
	WAL_MODE_REPAIR_DRY,
};

#define WAL_DEFAULT_SEGMENT_BYTES (64u << 20)
#define WAL_MIN_SEGMENT_BYTES	  256u
#define WAL_MAX_SEGMENT_BYTES	  (1u << 30)

struct wal_opts {
	enum wal_fsync fsync;
	enum wal_mode mode;
	/* size of new segment files (a multiple of 8 in [WAL_MIN_SEGMENT_BYTES,
	 * WAL_MAX_SEGMENT_BYTES]); 0: WAL_DEFAULT_SEGMENT_BYTES. Existing segments keep theirs. */
	uint32_t segment_bytes;
	/* torn-tail and repair lines go here; NULL: none. Not owned; must outlive the wal. */
	const struct common_logger *log;
	/* Test hook, NULL in production: called before each write ("write"), fdatasync
	 * ("fdatasync") and segment creation ("create"); a negative errno it returns is taken as
	 * that call's failure. Called from the caller's thread, and under WAL_FSYNC_EVERYSEC
	 * from the sync thread for its "fdatasync". */
	int (*inject)(void *arg, const char *op);
	void *inject_arg;
};

struct wal;

/* Checks a process's stateDir before anything is written there (the master's files, the
 * replicas' stateDir/<alias>): it must exist (never created: a mistyped path or a mount that is
 * not there should stop the process, not fill another disk), be a directory, and be writable
 * (access(W_OK): a read-only mount, the permissions). Returns 0, or -ENOENT, -ENOTDIR, or the
 * negative errno access() gave, with `stateDir DIR does not exist: create it
 * (docs/durability.md)`, `stateDir DIR is not a directory` or `stateDir DIR is not writable:
 * <strerror>` in err (errlen bytes). */
int wal_state_dir_check(const char *dir, char *err, size_t errlen);

/* True for the errors of a full file system (ENOSPC, EDQUOT, EFBIG): what a commit or a segment
 * creation returns when the disk is full. */
bool wal_err_is_full(int rc);

/* Opens the log in dir (created with its missing parents, mode 0700) under an exclusive flock
 * of the directory (shared in WAL_MODE_CHECK): a second opener gets -EWOULDBLOCK. Removes
 * leftover `*.tmp` files of an interrupted segment creation (not in CHECK mode), reads every
 * segment's header: bad magic, header checksum or a name that does not match the header's
 * first LSN is -EBADMSG, an unknown version -EPROTONOSUPPORT, each with `file:0: ...` in err
 * (errlen bytes; may be NULL). o NULL: defaults (ALWAYS, NORMAL, 64 MiB, no log). On success
 * *out is the caller's until wal_close. Records are not read yet: see wal_replay. */
int wal_open(const char *dir, const struct wal_opts *o, struct wal **out, char *err, size_t errlen);

/* Called for each record in LSN order: p (len bytes) is valid during the call only. A nonzero
 * return stops the replay, which returns it. */
typedef int (*wal_replay_cb)(void *arg, uint64_t lsn, uint8_t type, const uint8_t *p, uint32_t len);

/* Reads every record from the first kept one, calling cb (may be NULL: a check), and finds the
 * end of the log. Call once, after wal_open and before any wal_append. A torn tail (a bad
 * record in the last segment with no valid later record after it) is cut off there in NORMAL
 * and REPAIR modes with one log line `<file>:<offset>: torn tail, N bytes dropped`. Any other
 * damage returns -EBADMSG with `<file>:<offset>: checksum mismatch` (or `bad length`,
 * `unexpected LSN ...`, `LSN gap ...`) in err, except in REPAIR mode, which cuts the log at the
 * first damage. cb may have received earlier records when an error comes: the caller must not
 * serve from them (it stops). Returns 0, cb's value, or a negative errno. */
int wal_replay(struct wal *w, wal_replay_cb cb, void *arg, char *err, size_t errlen);

/* Buffers one record (type, len bytes of p, copied) in memory; no system call. *lsn_out (may be
 * NULL) gets its LSN: LSNs are consecutive. Returns 0, -EMSGSIZE (larger than a segment can
 * hold), -ENOMEM, -EROFS (CHECK mode), -EINVAL (before wal_replay) or the wal's error. */
int wal_append(struct wal *w, uint8_t type, const void *p, uint32_t len, uint64_t *lsn_out);

/* Group commit: writes everything buffered, one pwrite per segment touched, then under ALWAYS
 * one fdatasync per segment touched; under EVERYSEC the sync thread syncs within a second
 * (the caller never waits for it), under NO nothing does. Filling a segment syncs it in full
 * and creates the next one (tmp file, preallocation, header, fdatasync, rename, directory
 * fsync) in the caller, under every policy. If creating a segment fails (a full disk:
 * preallocation says -ENOSPC), the records that did not fit stay buffered, the wal stays usable
 * and a later wal_commit retries. A failed write or fdatasync makes the wal unusable. Returns 0
 * or a negative errno (text in wal_error). */
int wal_commit(struct wal *w);

/* wal_commit, then one fdatasync of what is written whatever the policy: every record appended
 * so far is durable on return (a snapshot covering them is about to be taken). Returns 0 or a
 * negative errno (the wal is then unusable, as after a failed wal_commit). */
int wal_commit_sync(struct wal *w);
/* True when records are buffered and not yet written by wal_commit. */
bool wal_pending(const struct wal *w);

/* Removes the segment files all of whose records have LSNs below lsn (never the last segment),
 * oldest first, then fsyncs the directory. Call after a snapshot covering LSNs < lsn is
 * durable. Returns 0 or a negative errno (the wal stays usable). */
int wal_truncate_before(struct wal *w, uint64_t lsn);

/* The LSN the next wal_append gets (1 for an empty log). */
uint64_t wal_next_lsn(const struct wal *w);

/* The text of the last error ("" if none); valid until the next call on w. */
const char *wal_error(const struct wal *w);

/* After wal_replay: whether it dropped anything (a torn tail, or REPAIR's cut), with a line
 * `<file>:<offset>: <what>, N bytes dropped[, K later segments removed]` in buf. In CHECK
 * mode, what a NORMAL open would drop. */
bool wal_dropped(const struct wal *w, char *buf, size_t len);

/* One segment file's contents as the replay found them. */
struct wal_seg_info {
	char name[32];	    /* wal-<16 hex>.log */
	uint64_t first_lsn; /* from its header */
	uint64_t records;   /* valid records kept (last LSN = first_lsn + records - 1) */
	uint64_t bytes;	    /* file size */
};

/* Fills *si with segment i (0 = oldest) after wal_replay. Returns 0 or -ENOENT past the end. */
int wal_segment(const struct wal *w, size_t i, struct wal_seg_info *si);

/* Stops the sync thread (under EVERYSEC after one last fdatasync of what was written), closes
 * and frees. Buffered records are NOT written: commit first. w may be NULL. */
void wal_close(struct wal *w);

#endif
