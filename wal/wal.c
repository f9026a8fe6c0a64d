/* wal: segment files, record scan with torn-tail detection, group commit, the sync thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wal/crc32c.h"
#include "wal/wal.h"

/*
 * File header (WAL_HDR bytes, little-endian): magic "CURPWAL\0" (8), version u32, reserved u32
 * (0), first LSN u64, CRC-32C of the previous 24 bytes u32, reserved u32 (0).
 * Record at an 8-aligned offset: length u32 (17 + payload bytes: never 0, so a zero length is
 * the end of the log), CRC-32C u32 over (lsn, type, length, payload), lsn u64, type u8,
 * payload, zero padding to the next multiple of 8.
 */
#define WAL_MAGIC   "CURPWAL"
#define WAL_VERSION 1u
#define WAL_HDR	    32u
#define REC_HDR	    17u
#define NAME_LEN    24 /* "wal-" + 16 hex + ".log" */

struct seg {
	uint64_t first;
	uint64_t records;
	uint64_t size;
};

struct wal {
	char dir[PATH_MAX];
	int dirfd;
	struct wal_opts o;
	struct seg *segs; /* oldest first; the last one is the one appended to */
	size_t nsegs, capsegs;
	bool replayed;
	int fd;		   /* the last segment, open for writing; -1: none yet */
	uint64_t tail;	   /* offset of the next record in it */
	bool unsynced;	   /* written since the caller's last fdatasync of fd */
	uint64_t next_lsn; /* of the next wal_append */
	uint8_t *buf;	   /* appended records, encoded, not yet written */
	size_t blen, bcap;
	int broken; /* 0, or the error that made the wal unusable */
	char errtext[PATH_MAX + 160];
	bool dropped;
	char droptext[PATH_MAX + 400]; /* room for errtext and a suffix */
	/* the EVERYSEC sync thread: everything below is under mu */
	bool thread_on;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	int sync_fd;	      /* == fd; the thread syncs a dup() of it */
	uint64_t written_gen; /* bumped by each wal_commit that wrote */
	uint64_t synced_gen;  /* the written_gen the thread last synced */
	int th_err;	      /* the thread's failed fdatasync: the wal is unusable */
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* The CRC a record of total length len (>= REC_HDR) at r must carry. */
static uint32_t rec_crc(const uint8_t *r, uint32_t len)
{
	uint32_t c = wal_crc32c(0, r + 8, 9); /* lsn, type */
	c = wal_crc32c(c, r, 4);	      /* length */
	return wal_crc32c(c, r + REC_HDR, len - REC_HDR);
}

static void seg_name(char *out, uint64_t first)
{
	snprintf(out, NAME_LEN + 1, "wal-%016llx.log", (unsigned long long)first);
}

static int set_err(struct wal *w, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_err(struct wal *w, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->errtext, sizeof w->errtext, fmt, ap);
	va_end(ap);
	return rc;
}

/* A failed write or sync: from now on every call returns rc (the pages may be lost; the caller
 * stops instead of trusting a retry). */
static int set_broken(struct wal *w, int rc, const char *what, const char *name)
{
	set_err(w, rc, "%s/%s: %s: %s", w->dir, name, what, strerror(-rc));
	w->broken = rc;
	LOG_ERROR(w->o.log, "wal: %s (the log is unusable from now on)", w->errtext);
	return rc;
}

static int inject(const struct wal *w, const char *op)
{
	return w->o.inject ? w->o.inject(w->o.inject_arg, op) : 0;
}

static int do_fdatasync(const struct wal *w, int fd)
{
	int rc = inject(w, "fdatasync");
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	return rc;
}

static int pwrite_all(const struct wal *w, int fd, const uint8_t *p, size_t n, uint64_t off)
{
	int rc = inject(w, "write");
	if (rc != 0)
		return rc;
	while (n > 0) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* Gives fd size bytes of zeros, allocated when the file system can (else a sparse extension).
 */
static int prealloc(int fd, uint64_t size)
{
	int rc = posix_fallocate(fd, 0, (off_t)size);
	if (rc == EOPNOTSUPP || rc == EINVAL)
		rc = ftruncate(fd, (off_t)size) == 0 ? 0 : errno;
	return -rc;
}

static int fsync_dir(struct wal *w)
{
	int rc = inject(w, "fdatasync");
	if (rc == 0 && fsync(w->dirfd) != 0)
		rc = -errno;
	return rc;
}

/* ---- the sync thread (EVERYSEC) ---- */

static void *sync_main(void *arg)
{
	struct wal *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += 1;
		while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &t) != ETIMEDOUT)
			;
		if (w->stop || w->written_gen == w->synced_gen || w->sync_fd < 0)
			continue;
		uint64_t gen = w->written_gen;
		/* a duplicate: the caller may close sync_fd at a segment roll meanwhile (it syncs
		 * the old segment itself before that) */
		int fd = dup(w->sync_fd);
		pthread_mutex_unlock(&w->mu);
		int rc = fd < 0 ? -errno : do_fdatasync(w, fd);
		if (fd >= 0)
			close(fd);
		pthread_mutex_lock(&w->mu);
		if (rc != 0) {
			w->th_err = rc;
			break;
		}
		w->synced_gen = gen;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int start_thread(struct wal *w)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -rc;
	rc = pthread_mutex_init(&w->mu, NULL);
	if (rc != 0)
		goto err_after_cond;
	rc = pthread_create(&w->th, NULL, sync_main, w);
	if (rc != 0)
		goto err_after_mutex;
	w->thread_on = true;
	return 0;
err_after_mutex:
	pthread_mutex_destroy(&w->mu);
err_after_cond:
	pthread_cond_destroy(&w->cv);
	return -rc;
}

/* The wal's error, taking over the sync thread's failure if it had one. */
/* CHECK and REPAIR_DRY change nothing on disk. */
static bool read_only(const struct wal *w)
{
	return w->o.mode == WAL_MODE_CHECK || w->o.mode == WAL_MODE_REPAIR_DRY;
}

/* REPAIR cuts at the first damage; REPAIR_DRY finds the same cut without making it. */
static bool repairing(const struct wal *w)
{
	return w->o.mode == WAL_MODE_REPAIR || w->o.mode == WAL_MODE_REPAIR_DRY;
}

static int check_usable(struct wal *w)
{
	if (w->broken)
		return w->broken;
	if (w->thread_on) {
		pthread_mutex_lock(&w->mu);
		int rc = w->th_err;
		pthread_mutex_unlock(&w->mu);
		if (rc != 0) {
			char name[NAME_LEN + 1];
			seg_name(name, w->segs[w->nsegs - 1].first);
			return set_broken(w, rc, "fdatasync (sync thread)", name);
		}
	}
	return 0;
}

/* ---- open ---- */

int wal_fsync_parse(const char *word, enum wal_fsync *out)
{
	static const char *const words[] = {"always", "everysec", "no"};
	for (int i = 0; i < 3; i++)
		if (word && !strcmp(word, words[i])) {
			*out = (enum wal_fsync)i;
			return 0;
		}
	return -EINVAL;
}

const char *wal_fsync_name(enum wal_fsync f)
{
	return f == WAL_FSYNC_ALWAYS ? "always" : f == WAL_FSYNC_EVERYSEC ? "everysec" : "no";
}

static int mkdir_p(const char *dir)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (c == '\0')
			return 0;
	}
}

int wal_state_dir_check(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		int rc = -errno;
		if (rc == -ENOENT)
			snprintf(err, errlen,
				 "stateDir %s does not exist: create it (docs/durability.md)", dir);
		else
			snprintf(err, errlen, "stateDir %s: %s", dir, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "stateDir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		int rc = -errno;
		snprintf(err, errlen, "stateDir %s is not writable: %s", dir, strerror(-rc));
		return rc;
	}
	return 0;
}

bool wal_err_is_full(int rc)
{
	return rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG;
}

/* The first LSN of a segment file name, or 0 when name is not one. */
static uint64_t parse_name(const char *name)
{
	if (strlen(name) != NAME_LEN || strncmp(name, "wal-", 4) || strcmp(name + 20, ".log"))
		return 0;
	uint64_t v = 0;
	for (int i = 4; i < 20; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return 0;
		v = v << 4 | (uint64_t)d;
	}
	return v;
}

static int cmp_seg(const void *a, const void *b)
{
	uint64_t x = ((const struct seg *)a)->first, y = ((const struct seg *)b)->first;
	return x < y ? -1 : x > y;
}

/* Removes segments i.. (REPAIR's cut, oldest first) and syncs the directory. */
static int remove_from(struct wal *w, size_t i)
{
	size_t n = w->nsegs;
	for (size_t k = i; k < n; k++) {
		char name[NAME_LEN + 1];
		seg_name(name, w->segs[k].first);
		if (unlinkat(w->dirfd, name, 0) != 0 && errno != ENOENT)
			return set_err(w, -errno, "%s/%s: unlink: %s", w->dir, name,
				       strerror(errno));
	}
	w->nsegs = i;
	int rc = fsync_dir(w);
	return rc ? set_err(w, rc, "%s: fsync: %s", w->dir, strerror(-rc)) : 0;
}

/* Reads and checks segment k's header. Returns 0, or -EBADMSG / -EPROTONOSUPPORT / -errno with
 * the text in w->errtext. */
static int check_header(struct wal *w, size_t k)
{
	char name[NAME_LEN + 1];
	seg_name(name, w->segs[k].first);
	int fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return set_err(w, -errno, "%s/%s: %s", w->dir, name, strerror(errno));
	struct stat st;
	uint8_t h[WAL_HDR];
	int rc = 0;
	if (fstat(fd, &st) != 0) {
		rc = set_err(w, -errno, "%s/%s: %s", w->dir, name, strerror(errno));
		close(fd);
		return rc;
	}
	w->segs[k].size = (uint64_t)st.st_size;
	if (st.st_size < (off_t)WAL_HDR || pread(fd, h, WAL_HDR, 0) != (ssize_t)WAL_HDR) {
		rc = set_err(w, -EBADMSG, "%s/%s:0: short header", w->dir, name);
	} else if (memcmp(h, WAL_MAGIC, 8) != 0) {
		rc = set_err(w, -EBADMSG, "%s/%s:0: bad magic (not a curpkv WAL segment)", w->dir,
			     name);
	} else if (rd32(h + 8) != WAL_VERSION) {
		rc = set_err(w, -EPROTONOSUPPORT,
			     "%s/%s:0: unsupported format version %u (this build reads %u)", w->dir,
			     name, rd32(h + 8), WAL_VERSION);
	} else if (rd32(h + 24) != wal_crc32c(0, h, 24)) {
		rc = set_err(w, -EBADMSG, "%s/%s:0: header checksum mismatch", w->dir, name);
	} else if (rd64(h + 16) != w->segs[k].first) {
		rc = set_err(w, -EBADMSG, "%s/%s:0: header says first LSN %llu", w->dir, name,
			     (unsigned long long)rd64(h + 16));
	}
	close(fd);
	return rc;
}

static int list_segments(struct wal *w)
{
	int fd = dup(w->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		return set_err(w, rc, "%s: %s", w->dir, strerror(-rc));
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l == NAME_LEN + 4 && !strncmp(e->d_name, "wal-", 4) &&
		    !strcmp(e->d_name + NAME_LEN, ".tmp")) {
			/* an interrupted segment creation: never renamed, so never part of the
			 * log */
			if (!read_only(w))
				unlinkat(w->dirfd, e->d_name, 0);
			continue;
		}
		uint64_t first = parse_name(e->d_name);
		if (first == 0)
			continue;
		if (w->nsegs == w->capsegs) {
			size_t cap = w->capsegs ? 2 * w->capsegs : 8;
			struct seg *s = realloc(w->segs, cap * sizeof *s);
			if (s == NULL) {
				rc = set_err(w, -ENOMEM, "%s: out of memory", w->dir);
				break;
			}
			w->segs = s;
			w->capsegs = cap;
		}
		w->segs[w->nsegs++] = (struct seg){.first = first};
	}
	closedir(d);
	if (rc == 0 && w->nsegs > 1)
		qsort(w->segs, w->nsegs, sizeof *w->segs, cmp_seg);
	return rc;
}

int wal_open(const char *dir, const struct wal_opts *o, struct wal **out, char *err, size_t errlen)
{
	static const struct wal_opts defaults = {0};
	if (o == NULL)
		o = &defaults;
	*out = NULL;
	uint32_t sb = o->segment_bytes ? o->segment_bytes : WAL_DEFAULT_SEGMENT_BYTES;
	if (sb < WAL_MIN_SEGMENT_BYTES || sb > WAL_MAX_SEGMENT_BYTES || sb % 8 ||
	    strlen(dir) >= PATH_MAX - NAME_LEN - 8) {
		if (err)
			snprintf(err, errlen, "%s: bad segment size or path", dir);
		return -EINVAL;
	}
	struct wal *w = calloc(1, sizeof *w);
	if (w == NULL) {
		if (err)
			snprintf(err, errlen, "%s: out of memory", dir);
		return -ENOMEM;
	}
	snprintf(w->dir, sizeof w->dir, "%s", dir);
	w->o = *o;
	w->o.segment_bytes = sb;
	w->fd = -1;
	w->sync_fd = -1;
	w->next_lsn = 1;
	int rc = 0;
	if (!read_only(w) && (rc = mkdir_p(dir)) != 0) {
		set_err(w, rc, "%s: cannot create: %s", dir, strerror(-rc));
		goto err_free;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		rc = set_err(w, -errno, "%s: %s", dir, strerror(errno));
		goto err_free;
	}
	if (flock(w->dirfd, (read_only(w) ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
		rc = set_err(w, -errno, "%s: %s", dir,
			     errno == EWOULDBLOCK ? "in use by another process" : strerror(errno));
		goto err_close_dir;
	}
	if ((rc = list_segments(w)) != 0)
		goto err_close_dir;
	for (size_t k = 0; k < w->nsegs; k++) {
		rc = check_header(w, k);
		if (rc == 0)
			continue;
		if (!repairing(w) || rc == -EPROTONOSUPPORT)
			goto err_close_dir;
		/* REPAIR: the log ends before this segment */
		snprintf(w->droptext, sizeof w->droptext, "%s, %zu segment(s) removed from here",
			 w->errtext, w->nsegs - k);
		w->dropped = true;
		rc = 0;
		if (read_only(w)) {
			w->nsegs = k; /* (REPAIR_DRY: as if removed) */
			break;
		}
		LOG_WARN(w->o.log, "wal: %s", w->droptext);
		if ((rc = remove_from(w, k)) != 0)
			goto err_close_dir;
		break;
	}
	if (o->fsync == WAL_FSYNC_EVERYSEC && !read_only(w) && (rc = start_thread(w)) != 0) {
		set_err(w, rc, "%s: cannot start the sync thread: %s", dir, strerror(-rc));
		goto err_close_dir;
	}
	*out = w;
	return 0;
err_close_dir:
	close(w->dirfd);
err_free:
	if (err)
		snprintf(err, errlen, "%s", w->errtext);
	free(w->segs);
	free(w);
	return rc;
}

/* ---- replay ---- */

enum damage { DMG_NONE, DMG_LEN, DMG_CRC, DMG_LSN, DMG_ZERO };

/* True when a record with a valid length and CRC and an LSN above last starts at an 8-aligned
 * offset in [from, size): what tells a damaged middle from a torn tail. */
static bool valid_after(const uint8_t *m, uint64_t size, uint64_t from, uint64_t last)
{
	for (uint64_t o = from; o + REC_HDR <= size; o += 8) {
		uint32_t len = rd32(m + o);
		if (len < REC_HDR || len > size - o || rd64(m + o + 8) <= last)
			continue;
		if (rd32(m + o + 4) == rec_crc(m + o, len))
			return true;
	}
	return false;
}

/* Cuts segment fd at off: everything after becomes zeros again, preallocated to size. */
static int cut_at(int fd, uint64_t off, uint64_t size, const struct wal *w)
{
	if (ftruncate(fd, (off_t)off) != 0)
		return -errno;
	int rc = prealloc(fd, size);
	return rc ? rc : do_fdatasync(w, fd);
}

struct scan {
	uint64_t off;	/* end of the valid records, or where the damage is */
	uint64_t next;	/* LSN after the last valid record */
	uint64_t count; /* valid records */
	enum damage dmg;
	bool later; /* a valid record with a higher LSN follows the damage in this segment */
	int cb_rc;
};

static void scan_seg(const uint8_t *m, uint64_t size, uint64_t first, wal_replay_cb cb, void *arg,
		     struct scan *s)
{
	*s = (struct scan){.off = WAL_HDR, .next = first};
	while (s->off + REC_HDR <= size) {
		const uint8_t *r = m + s->off;
		uint32_t len = rd32(r);
		if (len == 0) {
			/* the end, unless valid records follow the zeros */
			if (valid_after(m, size, s->off + 8, s->next - 1)) {
				s->dmg = DMG_ZERO;
				s->later = true;
			}
			return;
		}
		if (len < REC_HDR || len > size - s->off || rd32(r + 4) != rec_crc(r, len)) {
			s->dmg = len < REC_HDR || len > size - s->off ? DMG_LEN : DMG_CRC;
			s->later = valid_after(m, size, s->off + 8, s->next - 1);
			return;
		}
		if (rd64(r + 8) != s->next) {
			s->dmg = DMG_LSN;
			return;
		}
		if (cb && (s->cb_rc = cb(arg, s->next, r[16], r + REC_HDR, len - REC_HDR)) != 0)
			return;
		s->next++;
		s->count++;
		s->off += align8(len);
	}
}

static const char *damage_text(enum damage d)
{
	return d == DMG_CRC ? "checksum mismatch" : d == DMG_LSN ? "unexpected LSN" : "bad length";
}

/* Bytes from off to the last nonzero byte of m. */
static uint64_t nonzero_span(const uint8_t *m, uint64_t size, uint64_t off)
{
	uint64_t end = size;
	while (end > off && m[end - 1] == 0)
		end--;
	return end - off;
}

int wal_replay(struct wal *w, wal_replay_cb cb, void *arg, char *err, size_t errlen)
{
	int rc = 0;
	if (w->replayed) {
		rc = set_err(w, -EINVAL, "%s: wal_replay called twice", w->dir);
		goto out;
	}
	bool ro = read_only(w);
	uint64_t next = w->nsegs ? w->segs[0].first : 1;
	for (size_t i = 0; i < w->nsegs; i++) {
		struct seg *sg = &w->segs[i];
		bool last = i + 1 == w->nsegs;
		char name[NAME_LEN + 1];
		seg_name(name, sg->first);
		int fd = openat(w->dirfd, name, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			rc = set_err(w, -errno, "%s/%s: %s", w->dir, name, strerror(errno));
			goto out;
		}
		uint8_t *m = mmap(NULL, sg->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			rc = set_err(w, -errno, "%s/%s: mmap: %s", w->dir, name, strerror(errno));
			close(fd);
			goto out;
		}
		struct scan s;
		scan_seg(m, sg->size, sg->first, cb, arg, &s);
		sg->records = s.count;
		next = s.next;
		/* nonzero bytes from the damage, or after the end of the last segment's log */
		uint64_t span = s.dmg || last ? nonzero_span(m, sg->size, s.off) : 0;
		munmap(m, sg->size);
		if (s.cb_rc != 0) {
			rc = set_err(w, s.cb_rc, "%s/%s:%llu: the replay callback failed (%d)",
				     w->dir, name, (unsigned long long)s.off, s.cb_rc);
			close(fd);
			goto out;
		}
		/* the LSN gap: a clean end here, but the next segment does not continue it */
		bool gap = !s.dmg && !last && w->segs[i + 1].first != s.next;
		/* leftovers of a torn write after a clean end (no valid record among them: else
		 * DMG_ZERO): zeroed, so that records appended there are not followed by garbage */
		bool junk = !s.dmg && last && span > 0 && s.off + REC_HDR <= sg->size;
		if (!s.dmg && !gap && !junk) {
			if (last && !ro) {
				w->fd = fd;
				w->tail = s.off;
			} else {
				close(fd);
			}
			continue;
		}
		char what[PATH_MAX + 160];
		if (junk)
			snprintf(what, sizeof what, "%s/%s:%llu: garbage after the end of the log",
				 w->dir, name, (unsigned long long)s.off);
		else if (gap)
			snprintf(what, sizeof what,
				 "%s/%s:%llu: LSN gap: this segment ends at LSN %llu, the next "
				 "starts at %llu",
				 w->dir, name, (unsigned long long)s.off,
				 (unsigned long long)(s.next - 1),
				 (unsigned long long)w->segs[i + 1].first);
		else
			snprintf(what, sizeof what, "%s/%s:%llu: %s", w->dir, name,
				 (unsigned long long)s.off, damage_text(s.dmg));
		/* a bad record with nothing valid after it, in the segment being written: a
		 * write cut short by a crash */
		bool torn = junk || (last && (s.dmg == DMG_LEN || s.dmg == DMG_CRC) && !s.later);
		if (!torn && !repairing(w)) {
			rc = set_err(w, -EBADMSG, "%s", what);
			close(fd);
			goto out;
		}
		w->dropped = true;
		size_t later = w->nsegs - i - 1;
		snprintf(w->droptext, sizeof w->droptext, "%s%s, %llu bytes dropped", what,
			 torn ? " (torn tail)" : "", (unsigned long long)span);
		if (later) {
			size_t l = strlen(w->droptext);
			snprintf(w->droptext + l, sizeof w->droptext - l,
				 ", %zu later segment(s) removed", later);
		}
		if (ro) {
			close(fd);
			break;
		}
		if ((s.dmg || junk) && (rc = cut_at(fd, s.off, sg->size, w)) != 0) {
			set_broken(w, rc, "truncate", name);
			close(fd);
			goto out;
		}
		LOG_WARN(w->o.log, "wal: %s", w->droptext);
		if (later && (rc = remove_from(w, i + 1)) != 0) {
			close(fd);
			goto out;
		}
		w->fd = fd;
		w->tail = s.off;
		break;
	}
	w->next_lsn = next;
	w->replayed = true;
	if (w->thread_on) {
		pthread_mutex_lock(&w->mu);
		w->sync_fd = w->fd;
		pthread_mutex_unlock(&w->mu);
	}
out:
	if (rc != 0 && err)
		snprintf(err, errlen, "%s", w->errtext);
	return rc;
}

/* ---- append and commit ---- */

int wal_append(struct wal *w, uint8_t type, const void *p, uint32_t len, uint64_t *lsn_out)
{
	int rc = check_usable(w);
	if (rc != 0)
		return rc;
	if (read_only(w))
		return set_err(w, -EROFS, "%s: opened read-only (check)", w->dir);
	if (!w->replayed)
		return set_err(w, -EINVAL, "%s: wal_append before wal_replay", w->dir);
	if (len > w->o.segment_bytes - WAL_HDR - REC_HDR)
		return set_err(w, -EMSGSIZE, "%s: a record of %u bytes does not fit a segment",
			       w->dir, len);
	size_t rec = (size_t)align8(REC_HDR + (uint64_t)len);
	if (w->bcap - w->blen < rec) {
		size_t cap = w->bcap ? w->bcap : 4096;
		while (cap - w->blen < rec)
			cap *= 2;
		uint8_t *b = realloc(w->buf, cap);
		if (b == NULL)
			return set_err(w, -ENOMEM, "%s: out of memory", w->dir);
		w->buf = b;
		w->bcap = cap;
	}
	uint8_t *r = w->buf + w->blen;
	wr32(r, REC_HDR + len);
	wr64(r + 8, w->next_lsn);
	r[16] = type;
	if (len)
		memcpy(r + REC_HDR, p, len);
	memset(r + REC_HDR + len, 0, rec - REC_HDR - len);
	wr32(r + 4, rec_crc(r, REC_HDR + len));
	w->blen += rec;
	if (lsn_out)
		*lsn_out = w->next_lsn;
	w->next_lsn++;
	return 0;
}

bool wal_pending(const struct wal *w)
{
	return w->blen > 0;
}

/* Creates the segment starting at first: a tmp file, preallocated, header written and synced,
 * renamed, directory synced. On success it is the last segment and w->fd. A failure before the
 * rename leaves the log as it was (returned as is); after it, the wal is broken. */
static int new_segment(struct wal *w, uint64_t first)
{
	if (w->nsegs == w->capsegs) {
		size_t cap = w->capsegs ? 2 * w->capsegs : 8;
		struct seg *s = realloc(w->segs, cap * sizeof *s);
		if (s == NULL)
			return set_err(w, -ENOMEM, "%s: out of memory", w->dir);
		w->segs = s;
		w->capsegs = cap;
	}
	char name[NAME_LEN + 1], tmp[NAME_LEN + 5];
	seg_name(name, first);
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	int rc = inject(w, "create");
	if (rc != 0)
		return set_err(w, rc, "%s/%s: create: %s", w->dir, tmp, strerror(-rc));
	int fd = openat(w->dirfd, tmp, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return set_err(w, -errno, "%s/%s: create: %s", w->dir, tmp, strerror(errno));
	uint64_t size = w->o.segment_bytes;
	if ((rc = prealloc(fd, size)) != 0) {
		set_err(w, rc, "%s/%s: preallocate %llu bytes: %s", w->dir, tmp,
			(unsigned long long)size, strerror(-rc));
		goto err_unlink;
	}
	uint8_t h[WAL_HDR] = {0};
	memcpy(h, WAL_MAGIC, 8);
	wr32(h + 8, WAL_VERSION);
	wr64(h + 16, first);
	wr32(h + 24, wal_crc32c(0, h, 24));
	if ((rc = pwrite_all(w, fd, h, sizeof h, 0)) != 0 || (rc = do_fdatasync(w, fd)) != 0) {
		set_broken(w, rc, "write header", tmp);
		goto err_unlink;
	}
	if (renameat(w->dirfd, tmp, w->dirfd, name) != 0) {
		rc = set_broken(w, -errno, "rename", tmp);
		goto err_unlink;
	}
	if ((rc = fsync_dir(w)) != 0) {
		close(fd);
		return set_broken(w, rc, "fsync of the directory", name);
	}
	/* a last segment without records has the same first LSN: the rename replaced it */
	if (w->nsegs > 0 && w->segs[w->nsegs - 1].first == first)
		w->nsegs--;
	w->segs[w->nsegs++] = (struct seg){.first = first, .size = size};
	w->fd = fd;
	w->tail = WAL_HDR;
	w->unsynced = false;
	return 0;
err_unlink:
	close(fd);
	unlinkat(w->dirfd, tmp, 0);
	return rc;
}

/* Under the lock the sync thread reads them with. */
static void set_sync_fd(struct wal *w, int fd, bool wrote)
{
	if (!w->thread_on)
		return;
	pthread_mutex_lock(&w->mu);
	w->sync_fd = fd;
	if (wrote)
		w->written_gen++;
	pthread_mutex_unlock(&w->mu);
}

int wal_commit(struct wal *w)
{
	int rc = check_usable(w);
	if (rc != 0 || w->blen == 0)
		return rc;
	size_t pos = 0;
	bool wrote = false;
	while (pos < w->blen) {
		/* the records that fit the current segment */
		size_t n = 0;
		uint64_t count = 0;
		if (w->fd >= 0) {
			uint64_t room = w->segs[w->nsegs - 1].size - w->tail;
			while (pos + n < w->blen) {
				uint64_t rec = align8(rd32(w->buf + pos + n));
				if (rec > room - n)
					break;
				n += (size_t)rec;
				count++;
			}
		}
		if (n > 0) {
			char name[NAME_LEN + 1];
			seg_name(name, w->segs[w->nsegs - 1].first);
			if ((rc = pwrite_all(w, w->fd, w->buf + pos, n, w->tail)) != 0)
				return set_broken(w, rc, "write", name);
			w->tail += n;
			w->segs[w->nsegs - 1].records += count;
			w->unsynced = true;
			wrote = true;
			pos += n;
			continue;
		}
		/* a roll: the full segment is synced before the next one exists (so only the
		 * last segment can have a torn tail) */
		if (w->fd >= 0 && w->unsynced) {
			char name[NAME_LEN + 1];
			seg_name(name, w->segs[w->nsegs - 1].first);
			if ((rc = do_fdatasync(w, w->fd)) != 0)
				return set_broken(w, rc, "fdatasync", name);
			w->unsynced = false;
		}
		int old = w->fd;
		rc = new_segment(w, rd64(w->buf + pos + 8));
		if (rc != 0) {
			/* what did not fit stays buffered for a later commit */
			memmove(w->buf, w->buf + pos, w->blen - pos);
			w->blen -= pos;
			set_sync_fd(w, w->fd, wrote);
			return rc;
		}
		set_sync_fd(w, w->fd, false);
		if (old >= 0)
			close(old);
	}
	w->blen = 0;
	if (w->o.fsync == WAL_FSYNC_ALWAYS && w->unsynced) {
		char name[NAME_LEN + 1];
		seg_name(name, w->segs[w->nsegs - 1].first);
		if ((rc = do_fdatasync(w, w->fd)) != 0)
			return set_broken(w, rc, "fdatasync", name);
		w->unsynced = false;
	}
	set_sync_fd(w, w->fd, wrote);
	return 0;
}

int wal_commit_sync(struct wal *w)
{
	int rc = wal_commit(w);
	if (rc != 0 || w->fd < 0 || !w->unsynced)
		return rc;
	char name[NAME_LEN + 1];
	seg_name(name, w->segs[w->nsegs - 1].first);
	if ((rc = do_fdatasync(w, w->fd)) != 0)
		return set_broken(w, rc, "fdatasync", name);
	w->unsynced = false;
	return 0;
}

/* ---- the rest ---- */

int wal_truncate_before(struct wal *w, uint64_t lsn)
{
	int rc = check_usable(w);
	if (rc != 0)
		return rc;
	if (read_only(w))
		return set_err(w, -EROFS, "%s: opened read-only (check)", w->dir);
	size_t k = 0; /* segments 0..k-1 go: the next one starts at or below lsn */
	while (k + 1 < w->nsegs && w->segs[k + 1].first <= lsn)
		k++;
	if (k == 0)
		return 0;
	for (size_t i = 0; i < k; i++) {
		char name[NAME_LEN + 1];
		seg_name(name, w->segs[i].first);
		if (unlinkat(w->dirfd, name, 0) != 0) {
			rc = set_err(w, -errno, "%s/%s: unlink: %s", w->dir, name, strerror(errno));
			k = i;
			break;
		}
	}
	memmove(w->segs, w->segs + k, (w->nsegs - k) * sizeof *w->segs);
	w->nsegs -= k;
	if (rc != 0)
		return rc;
	if ((rc = fsync_dir(w)) != 0)
		return set_err(w, rc, "%s: fsync: %s", w->dir, strerror(-rc));
	return 0;
}

uint64_t wal_next_lsn(const struct wal *w)
{
	return w->next_lsn;
}

const char *wal_error(const struct wal *w)
{
	return w->errtext;
}

bool wal_dropped(const struct wal *w, char *buf, size_t len)
{
	if (w->dropped && buf)
		snprintf(buf, len, "%s", w->droptext);
	return w->dropped;
}

int wal_segment(const struct wal *w, size_t i, struct wal_seg_info *si)
{
	if (i >= w->nsegs)
		return -ENOENT;
	seg_name(si->name, w->segs[i].first);
	si->first_lsn = w->segs[i].first;
	si->records = w->segs[i].records;
	si->bytes = w->segs[i].size;
	return 0;
}

void wal_close(struct wal *w)
{
	if (w == NULL)
		return;
	if (w->thread_on) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		bool dirty = w->written_gen != w->synced_gen && w->th_err == 0;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		/* a clean stop keeps what was written (the sync the thread would have done) */
		if (dirty && !w->broken && w->fd >= 0) {
			int rc = do_fdatasync(w, w->fd);
			if (rc != 0)
				LOG_ERROR(w->o.log, "wal: %s: fdatasync at close: %s", w->dir,
					  strerror(-rc));
		}
	}
	if (w->fd >= 0)
		close(w->fd);
	close(w->dirfd);
	free(w->buf);
	free(w->segs);
	free(w);
}
