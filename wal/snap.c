/* wal/snap: snapshot files (format and contracts: wal/snap.h). */
#include "wal/snap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal/crc32c.h"

#define SNAP_MAGIC   "CURPSNP"
#define SNAP_VERSION 1u
#define SNAP_HEADER  32u
#define SNAP_BUF     (1u << 20) /* bytes buffered before a write */

struct wal_snap_writer {
	int fd;
	char dir[512];
	char tmp[600], final[600];
	uint64_t records, bytes;
	uint8_t *buf;
	size_t used;
	int err; /* the first failure (every later call returns it) */
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flush_buf(struct wal_snap_writer *w)
{
	if (w->err == 0 && w->used > 0) {
		w->err = write_all(w->fd, w->buf, w->used);
		w->bytes += w->used;
		w->used = 0;
	}
	return w->err;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

int wal_snap_create(const char *dir, uint64_t lsn, struct wal_snap_writer **out, char *err,
		    size_t errlen)
{
	struct wal_snap_writer *w = calloc(1, sizeof *w);
	uint8_t *buf = malloc(SNAP_BUF);
	if (w == NULL || buf == NULL) {
		free(w);
		free(buf);
		snprintf(err, errlen, "no memory for a snapshot writer");
		return -ENOMEM;
	}
	w->buf = buf;
	snprintf(w->dir, sizeof w->dir, "%s", dir);
	snprintf(w->tmp, sizeof w->tmp, "%s/snap-%016" PRIx64 ".tmp", dir, lsn);
	snprintf(w->final, sizeof w->final, "%s/snap-%016" PRIx64 ".snap", dir, lsn);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: %s", w->tmp, strerror(-rc));
		free(w->buf);
		free(w);
		return rc;
	}
	uint8_t h[SNAP_HEADER] = {0};
	memcpy(h, SNAP_MAGIC, 8);
	put32(h + 8, SNAP_VERSION);
	put64(h + 16, lsn);
	put32(h + 24, wal_crc32c(0, h, 24));
	memcpy(w->buf, h, SNAP_HEADER);
	w->used = SNAP_HEADER;
	*out = w;
	return 0;
}

/* Appends one record of any type (wal_snap_add's, and the end record). */
static int add_record(struct wal_snap_writer *w, uint8_t type, const void *p, uint32_t len)
{
	if (w->err)
		return w->err;
	uint8_t h[9];
	put32(h, len);
	uint32_t crc = wal_crc32c(0, &type, 1);
	crc = wal_crc32c(crc, p, len);
	put32(h + 4, crc);
	h[8] = type;
	if (w->used + sizeof h + len > SNAP_BUF && flush_buf(w) != 0)
		return w->err;
	if (sizeof h + len > SNAP_BUF) { /* (a record larger than the buffer: straight out) */
		if ((w->err = write_all(w->fd, h, sizeof h)) == 0)
			w->err = write_all(w->fd, p, len);
		w->bytes += sizeof h + len;
	} else {
		memcpy(w->buf + w->used, h, sizeof h);
		if (len)
			memcpy(w->buf + w->used + sizeof h, p, len);
		w->used += sizeof h + len;
	}
	if (w->err == 0)
		w->records++;
	return w->err;
}

int wal_snap_add(struct wal_snap_writer *w, uint8_t type, const void *p, uint32_t len)
{
	/* the reader takes the first WAL_SNAP_END record as the end: one in the middle would
	 * make a snapshot that wal_snap_finish reports written and that never reads back */
	if (type == WAL_SNAP_END)
		return w->err ? w->err : -EINVAL;
	return add_record(w, type, p, len);
}

void wal_snap_abort(struct wal_snap_writer *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->tmp);
	free(w->buf);
	free(w);
}

int wal_snap_finish(struct wal_snap_writer *w, uint64_t *bytes, char *err, size_t errlen)
{
	uint8_t n[8];
	put64(n, w->records);
	int rc = add_record(w, WAL_SNAP_END, n, sizeof n);
	if (rc == 0)
		rc = flush_buf(w);
	if (rc == 0 && fsync(w->fd) != 0)
		rc = -errno;
	if (rc == 0 && close(w->fd) != 0)
		rc = -errno;
	if (rc == 0)
		w->fd = -1;
	if (rc == 0 && rename(w->tmp, w->final) != 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_dir(w->dir);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", w->tmp, strerror(-rc));
		wal_snap_abort(w);
		return rc;
	}
	if (bytes)
		*bytes = w->bytes;
	free(w->buf);
	free(w);
	return 0;
}

/* "snap-<16 hex>.snap" -> its LSN; false for any other name. */
static bool snap_name(const char *name, const char *suffix, uint64_t *lsn)
{
	size_t sl = strlen(suffix);
	if (strncmp(name, "snap-", 5) != 0 || strlen(name) != 5 + 16 + sl ||
	    strcmp(name + 21, suffix) != 0)
		return false;
	uint64_t v = 0;
	for (int i = 5; i < 21; i++) {
		char ch = name[i];
		int d = ch >= '0' && ch <= '9'	 ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
						 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*lsn = v;
	return true;
}

int wal_snap_latest(const char *dir, char *path, size_t pathlen, uint64_t *lsn)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -errno;
	bool found = false;
	uint64_t best = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t v;
		if (snap_name(de->d_name, ".snap", &v) && (!found || v > best)) {
			best = v;
			found = true;
		}
	}
	closedir(d);
	if (!found)
		return -ENOENT;
	snprintf(path, pathlen, "%s/snap-%016" PRIx64 ".snap", dir, best);
	*lsn = best;
	return 0;
}

int wal_snap_remove_before(const char *dir, uint64_t lsn)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -errno;
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t v;
		if ((snap_name(de->d_name, ".snap", &v) && v < lsn) ||
		    snap_name(de->d_name, ".tmp", &v)) {
			char p[600];
			snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
			if (unlink(p) == 0)
				removed++;
		}
	}
	closedir(d);
	if (removed > 0)
		(void)fsync_dir(dir); /* (a removal lost in a crash is removed again next time) */
	return removed;
}

/* A snapshot read in a window of the file (the file can be as large as the state): win()
 * makes bytes [off, off + n) of the file available, refilling and, for a record larger than
 * the window, growing it. */
struct snap_rd {
	int fd;
	uint8_t *buf;
	size_t cap;
	uint64_t start; /* file offset of buf[0] */
	size_t len;	/* valid bytes in buf */
	bool ioerr;
};

#define SNAP_READ_WINDOW (1u << 20)

static const uint8_t *win(struct snap_rd *r, uint64_t off, size_t n)
{
	if (off >= r->start && off + n <= r->start + r->len)
		return r->buf + (off - r->start);
	/* keep what is left from off on, then read after it */
	size_t keep = off >= r->start && off < r->start + r->len ? r->start + r->len - off : 0;
	if (keep)
		memmove(r->buf, r->buf + (off - r->start), keep);
	if (!keep && off != r->start + r->len && lseek(r->fd, (off_t)off, SEEK_SET) < 0) {
		r->ioerr = true;
		return NULL;
	}
	r->start = off;
	r->len = keep;
	if (n > r->cap) {
		uint8_t *nb = realloc(r->buf, n);
		if (nb == NULL)
			return NULL;
		r->buf = nb;
		r->cap = n;
	}
	while (r->len < n) {
		ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			r->ioerr = true;
		if (got <= 0)
			return NULL;
		r->len += (size_t)got;
	}
	return r->buf;
}

int wal_snap_read(const char *path, uint64_t *lsn,
		  int (*cb)(void *arg, uint8_t type, const uint8_t *p, uint32_t len), void *arg,
		  uint64_t *records, char *err, size_t errlen)
{
	struct snap_rd r = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
	if (r.fd < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	struct stat st;
	if (fstat(r.fd, &st) != 0) {
		int rc = -errno;
		close(r.fd);
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	uint64_t size = (uint64_t)st.st_size;
	r.cap = SNAP_READ_WINDOW;
	r.buf = malloc(r.cap);
	if (r.buf == NULL) {
		close(r.fd);
		snprintf(err, errlen, "%s: no memory for a read buffer", path);
		return -ENOMEM;
	}
	int rc = 0;
	uint64_t n = 0;
	bool end = false;
	uint64_t off = SNAP_HEADER;
	const uint8_t *h = size >= SNAP_HEADER ? win(&r, 0, SNAP_HEADER) : NULL;
	if (h == NULL || memcmp(h, SNAP_MAGIC, 8) != 0 || get32(h + 24) != wal_crc32c(0, h, 24)) {
		snprintf(err, errlen, "%s:0: not a snapshot (bad header)", path);
		rc = -EBADMSG;
	} else if (get32(h + 8) != SNAP_VERSION) {
		snprintf(err, errlen, "%s:0: unsupported snapshot version %u (this build reads %u)",
			 path, get32(h + 8), SNAP_VERSION);
		rc = -EPROTONOSUPPORT;
	}
	/* wal_snap_latest chooses by the name, the restore starts the log at the header's LSN:
	 * a file whose name says another LSN (copied or renamed by hand) is not trusted */
	const char *base = strrchr(path, '/');
	uint64_t named;
	if (rc == 0 && snap_name(base ? base + 1 : path, ".snap", &named) &&
	    named != get64(h + 16)) {
		snprintf(err, errlen, "%s:0: the header says LSN %" PRIu64 ", the name %" PRIu64,
			 path, get64(h + 16), named);
		rc = -EBADMSG;
	}
	if (rc == 0)
		*lsn = get64(h + 16);
	while (rc == 0 && !end) {
		const uint8_t *rh = size - off >= 9 ? win(&r, off, 9) : NULL;
		if (rh == NULL) {
			snprintf(err, errlen, "%s:%" PRIu64 ": %s", path, off,
				 r.ioerr ? strerror(EIO) : "cut short (no end record)");
			rc = r.ioerr ? -EIO : -EBADMSG;
			break;
		}
		uint32_t len = get32(rh);
		uint8_t type = rh[8];
		uint32_t want = get32(rh + 4);
		if (len > size - off - 9) {
			snprintf(err, errlen, "%s:%" PRIu64 ": bad length", path, off);
			rc = -EBADMSG;
			break;
		}
		const uint8_t *rec = win(&r, off, 9 + (size_t)len);
		if (rec == NULL) {
			snprintf(err, errlen, "%s:%" PRIu64 ": %s", path, off,
				 r.ioerr ? strerror(EIO) : "no memory for a record");
			rc = r.ioerr ? -EIO : -ENOMEM;
			break;
		}
		const uint8_t *p = rec + 9;
		uint32_t crc = wal_crc32c(wal_crc32c(0, &type, 1), p, len);
		if (crc != want) {
			snprintf(err, errlen, "%s:%" PRIu64 ": checksum mismatch", path, off);
			rc = -EBADMSG;
			break;
		}
		if (type == WAL_SNAP_END) {
			if (len != 8 || get64(p) != n || off + 9 + len != size) {
				snprintf(err, errlen, "%s:%" PRIu64 ": bad end record", path, off);
				rc = -EBADMSG;
			}
			end = true;
			break;
		}
		if (cb && (rc = cb(arg, type, p, len)) != 0)
			break;
		n++;
		off += 9 + len;
	}
	close(r.fd);
	free(r.buf);
	if (records)
		*records = n;
	return rc;
}
