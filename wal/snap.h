/* wal/snap: snapshot files next to a write-ahead log (docs/durability.md, "Snapshots"). */
#ifndef CURPKV_WAL_SNAP_H
#define CURPKV_WAL_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A snapshot is a file `snap-<LSN, 16 hex digits>.snap` in the log's directory: the records
 * (type, payload; opaque here) that rebuild the owner's state as it was when the log's next LSN
 * was LSN. Restoring = reading the newest whole snapshot, then the log's records from LSN on;
 * the log's records below LSN may then go (wal_truncate_before).
 *
 * Format (little-endian): a 32-byte header (magic "CURPSNP\0", version 1, reserved, LSN, CRC-32C
 * of the bytes before it, reserved), then records [len u32][crc u32 over type and payload][type
 * u8][payload len bytes], then an end record of type WAL_SNAP_END whose payload is the number of
 * records before it (u64). A file without its end record, or with a bad checksum anywhere, is
 * not a snapshot: it was cut short (the writer died) or damaged.
 *
 * Written as `snap-<LSN>.tmp`, fsync'ed, renamed, and the directory fsync'ed: a snapshot either
 * exists whole or not at all. Errors: 0 or a negative errno, with a text in err.
 */

#define WAL_SNAP_END 0xff /* (a record type the owner never uses) */

struct wal_snap_writer;

/* Creates dir/snap-<lsn>.tmp for writing. */
int wal_snap_create(const char *dir, uint64_t lsn, struct wal_snap_writer **out, char *err,
		    size_t errlen);
/* Appends one record (buffered). type WAL_SNAP_END is refused (-EINVAL): it ends a snapshot.
 * After a failed write every call returns that error. */
int wal_snap_add(struct wal_snap_writer *w, uint8_t type, const void *p, uint32_t len);
/* Writes the end record, fsyncs, renames to snap-<lsn>.snap, fsyncs the directory, frees w
 * (also on error, after removing the temporary file). *bytes (may be NULL): the file's size. */
int wal_snap_finish(struct wal_snap_writer *w, uint64_t *bytes, char *err, size_t errlen);
/* Removes the temporary file and frees w (w may be NULL). */
void wal_snap_abort(struct wal_snap_writer *w);

/* The newest snapshot in dir by its name's LSN: its path (pathlen bytes) and LSN. Returns 0,
 * -ENOENT (none) or another negative errno. Leftover `*.tmp` files are not snapshots. */
int wal_snap_latest(const char *dir, char *path, size_t pathlen, uint64_t *lsn);

/* Reads a snapshot, checking every record, and calls cb for each (cb may be NULL: a check; a
 * nonzero return stops the read, which returns it). Damage or a missing end is -EBADMSG with
 * `<path>:<offset>: <what>` in err, an unknown version -EPROTONOSUPPORT; a file named
 * snap-<LSN>.snap whose header says another LSN is damage too. *lsn: the header's LSN.
 * cb may have seen records before the damage was found. */
int wal_snap_read(const char *path, uint64_t *lsn,
		  int (*cb)(void *arg, uint8_t type, const uint8_t *p, uint32_t len), void *arg,
		  uint64_t *records, char *err, size_t errlen);

/* Removes the snapshots of dir older than lsn, and leftover temporary files. Returns the
 * number removed or a negative errno. */
int wal_snap_remove_before(const char *dir, uint64_t lsn);

#endif
