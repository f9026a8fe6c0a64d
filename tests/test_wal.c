/* Unit tests for wal/ (CRC-32C, round trips over segments, torn tails at every byte, damage in
 * the middle, versions, LSN gaps, truncation, failures, fsync policies) and a system test of
 * `curpkv wal-check` on the real binary. WAL_TESTS=pattern selects tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/rng.h"
#include "tests/proc.h"
#include "wal/crc32c.h"
#include "wal/snap.h"
#include "wal/wal.h"

#define SEG0 "wal-0000000000000001.log"

/* ---- helpers ---- */

struct fx {
	char tmp[256];
	char dir[320]; /* tmp/wal: created by wal_open */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(proc_tmpdir(f->tmp), 0);
	snprintf(f->dir, sizeof f->dir, "%s/wal", f->tmp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	proc_rmdir(f->tmp);
	free(f);
	return 0;
}

/* Record lsn's deterministic contents: type and payload (len bytes into p). */
static uint32_t content(uint64_t lsn, uint8_t *type, uint8_t *p)
{
	uint32_t len = (uint32_t)((lsn * 7) % 61);
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(lsn + i * 13);
	*type = (uint8_t)(lsn * 3);
	return len;
}

/* The replay callback: records must come in order from `next`, with content(). */
struct seen {
	uint64_t next;
	uint64_t count;
};

static int check_cb(void *arg, uint64_t lsn, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct seen *s = arg;
	uint8_t want[64], wt;
	uint32_t wl = content(lsn, &wt, want);
	if (lsn != s->next || type != wt || len != wl || memcmp(p, want, len) != 0)
		return -EILSEQ;
	s->next++;
	s->count++;
	return 0;
}

static struct wal *open_opts(const char *dir, const struct wal_opts *o)
{
	struct wal *w = NULL;
	char err[512] = "";
	int rc = wal_open(dir, o, &w, err, sizeof err);
	if (rc != 0)
		fail_msg("wal_open: %d %s", rc, err);
	return w;
}

static struct wal_opts opts(uint32_t seg, enum wal_fsync fs)
{
	return (struct wal_opts){.segment_bytes = seg, .fsync = fs};
}

/* Opens and replays, checking every record from `from`; returns the wal and the count. */
static struct wal *reopen(const char *dir, const struct wal_opts *o, uint64_t from, uint64_t *n)
{
	struct wal *w = open_opts(dir, o);
	struct seen s = {.next = from};
	char err[512] = "";
	int rc = wal_replay(w, check_cb, &s, err, sizeof err);
	if (rc != 0)
		fail_msg("wal_replay: %d %s", rc, err);
	if (n)
		*n = s.count;
	return w;
}

/* Appends records from wal_next_lsn() up to `upto` (exclusive), committing every `group`. */
static void write_upto(struct wal *w, uint64_t upto, int group)
{
	int k = 0;
	while (wal_next_lsn(w) < upto) {
		uint8_t p[64], t;
		uint64_t lsn = wal_next_lsn(w), got;
		uint32_t len = content(lsn, &t, p);
		assert_int_equal(wal_append(w, t, p, len, &got), 0);
		assert_int_equal(got, lsn);
		assert_true(wal_pending(w));
		if (++k % group == 0)
			assert_int_equal(wal_commit(w), 0);
	}
	assert_int_equal(wal_commit(w), 0);
	assert_false(wal_pending(w));
}

/* A fresh log in dir holding records 1..upto-1; returns the number of segment files. */
static size_t make_log(const char *dir, uint32_t seg, uint64_t upto)
{
	struct wal_opts o = opts(seg, WAL_FSYNC_NO);
	struct wal *w = reopen(dir, &o, 1, NULL);
	write_upto(w, upto, 5);
	size_t n = 0;
	struct wal_seg_info si;
	while (wal_segment(w, n, &si) == 0)
		n++;
	wal_close(w);
	return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	b[n] = 0;
	*len = (size_t)n;
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offset of record k (0-based) in a segment image, walking the lengths from the header. */
static size_t rec_off(const uint8_t *b, size_t k)
{
	size_t off = 32;
	for (size_t i = 0; i < k; i++)
		off += (le32(b + off) + 7) & ~7u;
	return off;
}

static void seg_path(char *out, size_t n, const char *dir, const char *name)
{
	snprintf(out, n, "%s/%.40s", dir, name); /* (file names are short) */
}

/* ---- CRC-32C ---- */

static void test_crc_check_value(void **state)
{
	(void)state;
	assert_int_equal(wal_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(wal_crc32c(0, "123456789", 9), 0xE3069283u);
	if (wal_crc32c_hw_available())
		assert_int_equal(wal_crc32c_hw(0, "123456789", 9), 0xE3069283u);
	else
		print_message("# no SSE4.2 here: hardware CRC not tested\n");
	/* the table is the polynomial's: recomputed bit by bit */
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? 0x82F63B78u : 0);
		assert_int_equal(wal_crc32c_table(i), c);
	}
	/* chaining */
	assert_int_equal(wal_crc32c_sw(wal_crc32c_sw(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static void test_crc_hw_matches_sw(void **state)
{
	(void)state;
	if (!wal_crc32c_hw_available()) {
		print_message("# no SSE4.2 here: skipped\n");
		skip();
	}
	struct common_rng r;
	common_rng_seed(&r, 99);
	uint8_t buf[4096 + 8];
	for (int round = 0; round < 2000; round++) {
		size_t n = common_rng_below(&r, 4096), at = common_rng_below(&r, 8);
		for (size_t i = 0; i < n; i++)
			buf[at + i] = (uint8_t)common_rng_next(&r);
		uint32_t seed = (uint32_t)common_rng_next(&r);
		assert_int_equal(wal_crc32c_hw(seed, buf + at, n),
				 wal_crc32c_sw(seed, buf + at, n));
	}
}

static void test_fsync_words(void **state)
{
	(void)state;
	enum wal_fsync f;
	assert_int_equal(wal_fsync_parse("always", &f), 0);
	assert_int_equal(f, WAL_FSYNC_ALWAYS);
	assert_int_equal(wal_fsync_parse("everysec", &f), 0);
	assert_int_equal(f, WAL_FSYNC_EVERYSEC);
	assert_int_equal(wal_fsync_parse("no", &f), 0);
	assert_int_equal(f, WAL_FSYNC_NO);
	assert_int_equal(wal_fsync_parse("sometimes", &f), -EINVAL);
	assert_int_equal(wal_fsync_parse(NULL, &f), -EINVAL);
	assert_string_equal(wal_fsync_name(WAL_FSYNC_EVERYSEC), "everysec");
}

/* ---- round trips ---- */

static void test_round_trip_segments(void **state)
{
	struct fx *f = *state;
	struct wal_opts o = opts(512, WAL_FSYNC_ALWAYS);
	uint64_t n;
	struct wal *w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 0);
	assert_int_equal(wal_next_lsn(w), 1);
	write_upto(w, 101, 7);
	/* a record larger than a segment can hold is refused, nothing else changes */
	static uint8_t big[512];
	assert_int_equal(wal_append(w, 1, big, sizeof big, NULL), -EMSGSIZE);
	assert_int_equal(wal_next_lsn(w), 101);
	wal_close(w);

	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 100);
	size_t segs = 0;
	uint64_t total = 0, expect_first = 1;
	struct wal_seg_info si;
	for (; wal_segment(w, segs, &si) == 0; segs++) {
		assert_int_equal(si.first_lsn, expect_first);
		assert_int_equal(si.bytes, 512);
		expect_first += si.records;
		total += si.records;
	}
	assert_true(segs >= 4);
	assert_int_equal(total, 100);
	/* appending after a reopen continues the LSNs and the last segment */
	write_upto(w, 151, 3);
	wal_close(w);
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 150);
	assert_int_equal(wal_next_lsn(w), 151);
	wal_close(w);
}

static void test_append_before_replay(void **state)
{
	struct fx *f = *state;
	struct wal *w = open_opts(f->dir, NULL);
	assert_int_equal(wal_append(w, 1, "x", 1, NULL), -EINVAL);
	/* the directory is locked: a second opener is refused */
	struct wal *w2 = NULL;
	char err[512];
	assert_int_equal(wal_open(f->dir, NULL, &w2, err, sizeof err), -EWOULDBLOCK);
	assert_non_null(strstr(err, "in use by another process"));
	wal_close(w);
}

/* ---- torn tails ---- */

/* The last record of a log, cut at every byte (the rest as it was: zeros, or garbage): the
 * replay keeps every earlier record, drops the cut one with one note, and appends continue. */
static void test_torn_tail_every_byte(void **state)
{
	struct fx *f = *state;
	assert_int_equal(make_log(f->dir, 4096, 21), 1);
	char path[400];
	seg_path(path, sizeof path, f->dir, SEG0);
	size_t size;
	uint8_t *orig = slurp(path, &size);
	size_t last = rec_off(orig, 19), len = le32(orig + last);
	assert_true(len > 17);
	struct wal_opts o = opts(4096, WAL_FSYNC_ALWAYS);
	int cases = 0;
	for (int fill = 0; fill < 2; fill++) {
		for (size_t b = last; b < last + len; b++) {
			uint8_t *img = malloc(size);
			assert_non_null(img);
			memcpy(img, orig, size);
			memset(img + b, fill ? 0xA5 : 0, last + len - b);
			spit(path, img, size);
			uint64_t n;
			struct wal *w = reopen(f->dir, &o, 1, &n);
			assert_int_equal(n, 19);
			char why[600] = "";
			bool dropped = wal_dropped(w, why, sizeof why);
			/* all zeros from the record's start is simply the end of the log */
			assert_int_equal(dropped, !(fill == 0 && b == last));
			if (dropped) {
				char want[500];
				snprintf(want, sizeof want, "%s:%zu: ", path, last);
				assert_non_null(strstr(why, want));
				assert_non_null(strstr(why, "(torn tail)"));
			}
			write_upto(w, 22, 1);
			wal_close(w);
			w = reopen(f->dir, &o, 1, &n);
			assert_int_equal(n, 21);
			wal_close(w);
			free(img);
			cases++;
		}
	}
	print_message("# %d torn variants of a %zu-byte record\n", cases, len);
	free(orig);
}

/* ---- damage ---- */

static void expect_refusal(const char *dir, const char *want, int want_rc)
{
	struct wal *w = NULL;
	char err[600] = "";
	int rc = wal_open(dir, NULL, &w, err, sizeof err);
	if (rc == 0) {
		rc = wal_replay(w, NULL, NULL, err, sizeof err);
		wal_close(w);
	}
	assert_int_equal(rc, want_rc);
	assert_string_equal(err, want);
}

static void test_flip_middle_record(void **state)
{
	struct fx *f = *state;
	assert_int_equal(make_log(f->dir, 4096, 21), 1);
	char path[400];
	seg_path(path, sizeof path, f->dir, SEG0);
	size_t size;
	uint8_t *img = slurp(path, &size);
	size_t off = rec_off(img, 9), next = rec_off(img, 10);
	img[off + 20] ^= 0x40; /* a payload byte of LSN 10 */
	spit(path, img, size);
	char want[500];
	snprintf(want, sizeof want, "%s:%zu: checksum mismatch", path, off);
	expect_refusal(f->dir, want, -EBADMSG);
	/* refused, not repaired: the file is as it was */
	size_t size2;
	uint8_t *after = slurp(path, &size2);
	assert_int_equal(size2, size);
	assert_memory_equal(after, img, size);
	free(after);
	/* a broken length field is named as such */
	img[off + 20] ^= 0x40;
	img[off + 2] = 0x7f;
	spit(path, img, size);
	snprintf(want, sizeof want, "%s:%zu: bad length", path, off);
	expect_refusal(f->dir, want, -EBADMSG);
	/* zeros over a middle record (a lost sector) are not an end of log */
	memset(img + off, 0, next - off);
	spit(path, img, size);
	expect_refusal(f->dir, want, -EBADMSG);
	free(img);
}

static void test_flip_non_last_segment(void **state)
{
	struct fx *f = *state;
	assert_true(make_log(f->dir, 512, 60) >= 3);
	char path[400];
	seg_path(path, sizeof path, f->dir, SEG0);
	size_t size;
	uint8_t *img = slurp(path, &size);
	/* the LAST record of the first segment: nothing valid follows it in its file, but a
	 * segment that is not the last was complete once */
	size_t k = 0;
	while (le32(img + rec_off(img, k + 1)) != 0)
		k++;
	size_t off = rec_off(img, k);
	img[off + 12] ^= 1; /* its LSN */
	spit(path, img, size);
	char want[500];
	snprintf(want, sizeof want, "%s:%zu: checksum mismatch", path, off);
	expect_refusal(f->dir, want, -EBADMSG);
	free(img);
}

static void test_wrong_version(void **state)
{
	struct fx *f = *state;
	make_log(f->dir, 4096, 5);
	char path[400];
	seg_path(path, sizeof path, f->dir, SEG0);
	size_t size;
	uint8_t *img = slurp(path, &size);
	img[8] = 2; /* version 2, with a header checksum that matches */
	uint32_t c = wal_crc32c(0, img, 24);
	for (int i = 0; i < 4; i++)
		img[24 + i] = (uint8_t)(c >> (8 * i));
	spit(path, img, size);
	char want[500];
	snprintf(want, sizeof want, "%s:0: unsupported format version 2 (this build reads 1)",
		 path);
	expect_refusal(f->dir, want, -EPROTONOSUPPORT);
	/* a damaged header (not a version) is damage */
	img[8] = 1;
	img[20] ^= 1;
	spit(path, img, size);
	snprintf(want, sizeof want, "%s:0: header checksum mismatch", path);
	expect_refusal(f->dir, want, -EBADMSG);
	free(img);
}

static void test_lsn_gap(void **state)
{
	struct fx *f = *state;
	assert_true(make_log(f->dir, 512, 60) >= 3);
	struct wal_opts o = opts(512, WAL_FSYNC_NO);
	struct wal *w = reopen(f->dir, &o, 1, NULL);
	struct wal_seg_info s0, s1, s2;
	assert_int_equal(wal_segment(w, 0, &s0), 0);
	assert_int_equal(wal_segment(w, 1, &s1), 0);
	assert_int_equal(wal_segment(w, 2, &s2), 0);
	wal_close(w);
	char path[400], p0[400];
	seg_path(path, sizeof path, f->dir, s1.name);
	assert_int_equal(unlink(path), 0);
	seg_path(p0, sizeof p0, f->dir, s0.name);
	size_t size;
	uint8_t *img = slurp(p0, &size);
	char want[600];
	snprintf(want, sizeof want,
		 "%s:%zu: LSN gap: this segment ends at LSN %llu, the next starts at %llu", p0,
		 rec_off(img, s0.records), (unsigned long long)(s0.records),
		 (unsigned long long)s2.first_lsn);
	expect_refusal(f->dir, want, -EBADMSG);
	free(img);
}

static void test_truncate_before(void **state)
{
	struct fx *f = *state;
	size_t n = make_log(f->dir, 512, 80);
	assert_true(n >= 4);
	struct wal_opts o = opts(512, WAL_FSYNC_ALWAYS);
	struct wal *w = reopen(f->dir, &o, 1, NULL);
	struct wal_seg_info s[3];
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(wal_segment(w, i, &s[i]), 0);
	/* below the second segment's first LSN: the first still holds a record >= lsn */
	assert_int_equal(wal_truncate_before(w, s[1].first_lsn - 1), 0);
	assert_int_equal(wal_segment(w, n - 1, &s[0]), 0);
	/* exactly the third's first LSN: the first two go, nothing else */
	assert_int_equal(wal_truncate_before(w, s[2].first_lsn), 0);
	struct wal_seg_info now;
	assert_int_equal(wal_segment(w, 0, &now), 0);
	assert_int_equal(now.first_lsn, s[2].first_lsn);
	assert_int_equal(wal_segment(w, n - 2, &now), -ENOENT);
	char path[400];
	seg_path(path, sizeof path, f->dir, SEG0);
	assert_int_equal(access(path, F_OK), -1);
	/* never the last segment, even when every record is below lsn */
	assert_int_equal(wal_truncate_before(w, 1000), 0);
	assert_int_equal(wal_segment(w, 0, &now), 0);
	assert_int_equal(wal_segment(w, 1, &now), -ENOENT);
	uint64_t first = now.first_lsn;
	write_upto(w, 90, 4);
	wal_close(w);
	uint64_t cnt;
	w = reopen(f->dir, &o, first, &cnt);
	assert_int_equal(cnt, 90 - first);
	wal_close(w);
}

/* ---- failures ---- */

struct faults {
	const char *op;	 /* fail this operation */
	int after;	 /* after this many successful calls of it */
	int calls;	 /* calls of op seen */
	int syncs_main;	 /* fdatasync calls from the test's thread */
	int syncs_other; /* ... from another (the sync thread) */
	pthread_t main;
	pthread_mutex_t mu;
};

static int fault_hook(void *arg, const char *op)
{
	struct faults *fl = arg;
	pthread_mutex_lock(&fl->mu);
	if (!strcmp(op, "fdatasync")) {
		if (pthread_equal(pthread_self(), fl->main))
			fl->syncs_main++;
		else
			fl->syncs_other++;
	}
	int rc = 0;
	if (fl->op && !strcmp(op, fl->op) && fl->calls++ >= fl->after)
		rc = -EIO;
	pthread_mutex_unlock(&fl->mu);
	return rc;
}

static void check_failed_op(const char *dir, const char *op, int after)
{
	struct faults fl = {.op = op, .after = after, .main = pthread_self()};
	pthread_mutex_init(&fl.mu, NULL);
	struct wal_opts o = opts(4096, WAL_FSYNC_ALWAYS);
	o.inject = fault_hook;
	o.inject_arg = &fl;
	struct wal *w = reopen(dir, &o, 1, NULL);
	uint64_t lsn = wal_next_lsn(w);
	assert_int_equal(wal_append(w, 1, "abc", 3, NULL), 0);
	assert_int_equal(wal_commit(w), -EIO);
	assert_non_null(strstr(wal_error(w), op));
	assert_non_null(strstr(wal_error(w), strerror(EIO)));
	/* unusable from now on: nothing is retried as if it had worked */
	fl.op = NULL;
	assert_int_equal(wal_commit(w), -EIO);
	assert_int_equal(wal_append(w, 1, "abc", 3, NULL), -EIO);
	assert_int_equal(wal_truncate_before(w, lsn), -EIO);
	wal_close(w);
	pthread_mutex_destroy(&fl.mu);
}

static void test_failed_write_and_sync(void **state)
{
	struct fx *f = *state;
	make_log(f->dir, 4096, 3);
	check_failed_op(f->dir, "write", 0);
	check_failed_op(f->dir, "fdatasync", 0);
}

/* A real failure: a file size limit below the next segment's size makes its preallocation
 * fail (like a full disk); the records stay buffered, the wal stays usable, and a commit once
 * the limit is lifted writes them all. */
static void test_segment_creation_fails_then_recovers(void **state)
{
	struct fx *f = *state;
	make_log(f->dir, 1024, 10); /* one 1 KiB segment */
	struct rlimit old;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < 65536) {
		print_message("# RLIMIT_FSIZE already low: skipped\n");
		skip();
	}
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	struct wal_opts o = opts(65536, WAL_FSYNC_ALWAYS); /* new segments of 64 KiB */
	struct wal *w = reopen(f->dir, &o, 1, NULL);
	struct rlimit lim = {.rlim_cur = 8192, .rlim_max = old.rlim_max};
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	uint64_t lsn = wal_next_lsn(w);
	int rc = 0;
	while (rc == 0 && wal_next_lsn(w) < lsn + 100) {
		uint8_t p[64], t;
		uint32_t len = content(wal_next_lsn(w), &t, p);
		assert_int_equal(wal_append(w, t, p, len, NULL), 0);
		rc = wal_commit(w);
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(rc, -EFBIG);
	assert_non_null(strstr(wal_error(w), "preallocate"));
	assert_true(wal_pending(w));
	uint64_t upto = wal_next_lsn(w);
	assert_int_equal(wal_commit(w), 0);
	assert_false(wal_pending(w));
	wal_close(w);
	uint64_t n;
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, upto - 1);
	/* no leftover tmp file */
	char tmp[400];
	snprintf(tmp, sizeof tmp, "%s/wal-%016llx.log.tmp", f->dir, (unsigned long long)(upto - 1));
	assert_int_equal(access(tmp, F_OK), -1);
	wal_close(w);
}

/* stateDir must exist and be a writable directory; it is never created (wal_state_dir_check,
 * called by the replica and the master before anything else). A read-only one is checked on a
 * real read-only mount by tests/test_durable_faults.sh (root bypasses permission bits). */
static void test_state_dir_check(void **state)
{
	struct fx *f = *state;
	char err[600], p[400];
	assert_int_equal(wal_state_dir_check(f->tmp, err, sizeof err), 0);
	snprintf(p, sizeof p, "%s/missing/state", f->tmp);
	assert_int_equal(wal_state_dir_check(p, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "does not exist: create it"));
	assert_int_equal(access(p, F_OK), -1); /* not created */
	snprintf(p, sizeof p, "%s/file", f->tmp);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(wal_state_dir_check(p, err, sizeof err), -ENOTDIR);
	assert_non_null(strstr(err, "is not a directory"));
	assert_true(wal_err_is_full(-ENOSPC) && wal_err_is_full(-EDQUOT));
	assert_false(wal_err_is_full(-EIO));
}

/* ---- fsync policies ---- */

static void test_everysec_and_no(void **state)
{
	struct fx *f = *state;
	struct faults fl = {.main = pthread_self()};
	pthread_mutex_init(&fl.mu, NULL);
	struct wal_opts o = opts(1u << 20, WAL_FSYNC_EVERYSEC);
	o.inject = fault_hook;
	o.inject_arg = &fl;
	struct wal *w = reopen(f->dir, &o, 1, NULL);
	write_upto(w, 2, 1); /* creates the segment (which syncs it) */
	pthread_mutex_lock(&fl.mu);
	int before = fl.syncs_main;
	pthread_mutex_unlock(&fl.mu);
	write_upto(w, 50, 5);
	/* the caller never synced; the thread does within about a second */
	int other = 0;
	for (int i = 0; i < 500 && other == 0; i++) {
		pthread_mutex_lock(&fl.mu);
		other = fl.syncs_other;
		assert_int_equal(fl.syncs_main, before);
		pthread_mutex_unlock(&fl.mu);
		if (other == 0)
			nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	assert_true(other >= 1);
	/* a failed sync in the thread makes the next call fail */
	pthread_mutex_lock(&fl.mu);
	fl.op = "fdatasync";
	pthread_mutex_unlock(&fl.mu);
	int rc = 0;
	for (int i = 0; i < 500 && rc == 0; i++) {
		rc = wal_append(w, 1, "x", 1, NULL);
		if (rc == 0)
			rc = wal_commit(w);
		if (rc == 0)
			nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	assert_int_equal(rc, -EIO);
	assert_non_null(strstr(wal_error(w), "sync thread"));
	assert_int_equal(wal_commit(w), -EIO);
	wal_close(w);
	pthread_mutex_destroy(&fl.mu);

	/* what was written under NO, then EVERYSEC, is there after a reopen (a fresh log: the
	 * records above are not content()'s) */
	proc_rmdir(f->dir);
	o = opts(1u << 20, WAL_FSYNC_NO);
	uint64_t n;
	w = reopen(f->dir, &o, 1, NULL);
	write_upto(w, 40, 3);
	wal_close(w);
	o.fsync = WAL_FSYNC_EVERYSEC;
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 39);
	write_upto(w, 80, 3);
	wal_close(w);
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 79);
	wal_close(w);
}

/* Regression (found by fuzz_wal): garbage after a clean end of the last segment (no valid
 * record in it) was left in place, so records appended there were followed by it and the next
 * start reported a torn tail. It is now zeroed at the start that finds it. */
static void test_garbage_after_end(void **state)
{
	struct fx *f = *state;
	make_log(f->dir, 4096, 6);
	char path[400];
	seg_path(path, sizeof path, f->dir, SEG0);
	size_t size;
	uint8_t *img = slurp(path, &size);
	size_t end = rec_off(img, 5);
	memset(img + end + 64, 0xA5, 40);
	spit(path, img, size);
	struct wal_opts o = opts(4096, WAL_FSYNC_ALWAYS);
	uint64_t n;
	struct wal *w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 5);
	char why[700], want[500];
	assert_true(wal_dropped(w, why, sizeof why));
	snprintf(want, sizeof want, "%s:%zu: garbage after the end of the log", path, end);
	assert_non_null(strstr(why, want));
	write_upto(w, 30, 2);
	wal_close(w);
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 29);
	assert_false(wal_dropped(w, NULL, 0));
	wal_close(w);
	free(img);
}

/* Regression (found by fuzz_wal): a last segment without records, too small for the next
 * record, was rolled into a new segment of the same name (the same first LSN) and listed twice.
 * The new file replaces it. */
static void test_roll_from_empty_segment(void **state)
{
	struct fx *f = *state;
	make_log(f->dir, 4096, 2);
	char path[400];
	seg_path(path, sizeof path, f->dir, SEG0);
	size_t size;
	uint8_t *img = slurp(path, &size);
	spit(path, img, 40); /* the header and the start of record 1: a torn tail */
	struct wal_opts o = opts(4096, WAL_FSYNC_ALWAYS);
	uint64_t n;
	struct wal *w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 0);
	write_upto(w, 10, 3);
	struct wal_seg_info si;
	assert_int_equal(wal_segment(w, 0, &si), 0);
	assert_int_equal(si.bytes, 4096);
	assert_int_equal(wal_segment(w, 1, &si), -ENOENT);
	wal_close(w);
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 9);
	wal_close(w);
	free(img);
}

/* ---- REPAIR and CHECK modes ---- */

static void test_check_and_repair_modes(void **state)
{
	struct fx *f = *state;
	assert_true(make_log(f->dir, 512, 60) >= 3);
	char path[400];
	seg_path(path, sizeof path, f->dir, SEG0);
	size_t size;
	uint8_t *img = slurp(path, &size);
	size_t off = rec_off(img, 2);
	img[off + 18] ^= 0xff;
	spit(path, img, size);
	/* CHECK refuses like a start does, changes nothing */
	struct wal_opts o = {.mode = WAL_MODE_CHECK};
	struct wal *w = open_opts(f->dir, &o);
	char err[600];
	assert_int_equal(wal_replay(w, NULL, NULL, err, sizeof err), -EBADMSG);
	assert_int_equal(wal_append(w, 1, "x", 1, NULL), -EROFS);
	wal_close(w);
	/* REPAIR_DRY finds REPAIR's cut and changes nothing */
	o.mode = WAL_MODE_REPAIR_DRY;
	uint64_t n;
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 2);
	assert_int_equal(wal_next_lsn(w), 3);
	char dry[700];
	assert_true(wal_dropped(w, dry, sizeof dry));
	assert_int_equal(wal_append(w, 1, "x", 1, NULL), -EROFS);
	assert_int_equal(wal_truncate_before(w, 2), -EROFS);
	wal_close(w);
	size_t size2;
	uint8_t *same = slurp(path, &size2);
	assert_int_equal(size2, size);
	assert_memory_equal(same, img, size);
	free(same);
	/* REPAIR cuts there and removes the later segments */
	o.mode = WAL_MODE_REPAIR;
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 2);
	char why[700];
	assert_true(wal_dropped(w, why, sizeof why));
	assert_string_equal(why, dry);
	assert_non_null(strstr(why, "checksum mismatch"));
	assert_non_null(strstr(why, "later segment(s) removed"));
	assert_int_equal(wal_next_lsn(w), 3);
	wal_close(w);
	o = opts(512, WAL_FSYNC_ALWAYS);
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, 2);
	assert_false(wal_dropped(w, NULL, 0));
	struct wal_seg_info si;
	assert_int_equal(wal_segment(w, 1, &si), -ENOENT);
	wal_close(w);
	free(img);
}

/* REPAIR_DRY on a bad segment header: the log would end where the previous segment ends. */
static void test_repair_dry_header(void **state)
{
	struct fx *f = *state;
	size_t nseg = make_log(f->dir, 512, 60);
	assert_true(nseg >= 3);
	struct wal_opts o = {.mode = WAL_MODE_CHECK};
	struct wal *w = reopen(f->dir, &o, 1, NULL);
	struct wal_seg_info s1;
	assert_int_equal(wal_segment(w, 1, &s1), 0);
	wal_close(w);
	char path[400];
	seg_path(path, sizeof path, f->dir, s1.name);
	size_t size;
	uint8_t *img = slurp(path, &size);
	img[3] ^= 1; /* the magic */
	spit(path, img, size);
	o.mode = WAL_MODE_REPAIR_DRY;
	uint64_t n;
	w = reopen(f->dir, &o, 1, &n);
	assert_int_equal(n, s1.first_lsn - 1);
	assert_int_equal(wal_next_lsn(w), s1.first_lsn);
	char why[700];
	assert_true(wal_dropped(w, why, sizeof why));
	char want[800];
	snprintf(want, sizeof want,
		 "%s:0: bad magic (not a curpkv WAL segment), %zu segment(s) "
		 "removed from here",
		 path, nseg - 1);
	assert_string_equal(why, want);
	wal_close(w);
	/* nothing removed: a check still sees every segment and refuses */
	o.mode = WAL_MODE_CHECK;
	char err[600];
	assert_int_equal(wal_open(f->dir, &o, &w, err, sizeof err), -EBADMSG);
	assert_true(access(path, F_OK) == 0);
	free(img);
}

/* ---- snapshot files (wal/snap.h) ---- */

/* Payload lengths of the test snapshot's records: an empty one, one larger than the writer's
 * 1 MiB buffer (written straight out), one that fills the buffer exactly (9-byte header + 1 MiB
 * - 9), and small ones around them so buffered and unbuffered writes interleave. */
static const uint32_t snap_lens[] = {5, 0, 1000, (1u << 20) + 4097, 3, (1u << 20) - 9, 0, 77};
#define SNAP_NLENS (sizeof snap_lens / sizeof snap_lens[0])
/* A small snapshot (every cut length is tried on it): the first 3 and the last 3 lengths. */
static const uint32_t snap_small_lens[] = {5, 0, 1000, 3, 0, 77};
#define SNAP_NSMALL (sizeof snap_small_lens / sizeof snap_small_lens[0])

/* Record i's contents: type i + 1 (never WAL_SNAP_END), payload bytes from i and the offset. */
static void snap_content(uint64_t i, uint32_t len, uint8_t *p, uint8_t *type)
{
	for (uint32_t j = 0; j < len; j++)
		p[j] = (uint8_t)(i * 31 + j * 7 + (j >> 9));
	*type = (uint8_t)(i + 1);
}

/* Writes dir/snap-<lsn>.snap with records of the given lengths; returns its size (from
 * wal_snap_finish, checked against the file). */
static uint64_t snap_make(const char *dir, uint64_t lsn, const uint32_t *lens, size_t n)
{
	struct wal_snap_writer *w = NULL;
	char err[600] = "";
	if (wal_snap_create(dir, lsn, &w, err, sizeof err) != 0)
		fail_msg("wal_snap_create: %s", err);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = malloc(lens[i] + 1), t;
		assert_non_null(p);
		snap_content(i, lens[i], p, &t);
		assert_int_equal(wal_snap_add(w, t, p, lens[i]), 0);
		free(p);
	}
	uint64_t bytes = 0;
	if (wal_snap_finish(w, &bytes, err, sizeof err) != 0)
		fail_msg("wal_snap_finish: %s", err);
	char path[600];
	snprintf(path, sizeof path, "%s/snap-%016" PRIx64 ".snap", dir, lsn);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, bytes);
	return bytes;
}

/* wal_snap_read's callback: records must come in order with snap_content(); stop_at (when
 * nonzero) is the call that returns 42. */
struct snap_seen {
	const uint32_t *lens;
	size_t n;
	uint64_t count;
	uint64_t stop_at;
};

static int snap_cb(void *arg, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct snap_seen *s = arg;
	if (s->count >= s->n || len != s->lens[s->count])
		return -EILSEQ;
	uint8_t *want = malloc(len + 1), wt;
	assert_non_null(want);
	snap_content(s->count, len, want, &wt);
	bool same = type == wt && memcmp(p, want, len) == 0;
	free(want);
	if (!same)
		return -EILSEQ;
	s->count++;
	return s->stop_at && s->count == s->stop_at ? 42 : 0;
}

/* Offsets of the records of a snapshot written by snap_make (the end record's is [n]). */
static void snap_offsets(const uint32_t *lens, size_t n, size_t *off)
{
	off[0] = 32;
	for (size_t i = 0; i < n; i++)
		off[i + 1] = off[i] + 9 + lens[i];
}

/* Reads path expecting rc and, when want is not NULL, err to be exactly want; returns the
 * number of records the callback accepted. */
static uint64_t snap_expect(const char *path, const uint32_t *lens, size_t n, int rc,
			    const char *want)
{
	struct snap_seen s = {.lens = lens, .n = n};
	char err[800] = "";
	uint64_t lsn = 0, records = 0;
	int got = wal_snap_read(path, &lsn, snap_cb, &s, &records, err, sizeof err);
	if (got != rc || (want && strcmp(err, want) != 0))
		fail_msg("%s: rc %d (want %d), err '%s' (want '%s')", path, got, rc, err,
			 want ? want : "");
	return s.count;
}

static void test_snap_round_trip(void **state)
{
	struct fx *f = *state;
	uint64_t bytes = snap_make(f->tmp, 0x1234, snap_lens, SNAP_NLENS);
	size_t off[SNAP_NLENS + 1];
	snap_offsets(snap_lens, SNAP_NLENS, off);
	assert_int_equal(bytes, off[SNAP_NLENS] + 9 + 8); /* + the end record */
	char path[600];
	snprintf(path, sizeof path, "%s/snap-0000000000001234.snap", f->tmp);
	struct snap_seen s = {.lens = snap_lens, .n = SNAP_NLENS};
	char err[800] = "";
	uint64_t lsn = 0, records = 0;
	assert_int_equal(wal_snap_read(path, &lsn, snap_cb, &s, &records, err, sizeof err), 0);
	assert_int_equal(lsn, 0x1234);
	assert_int_equal(records, SNAP_NLENS);
	assert_int_equal(s.count, SNAP_NLENS);
	/* a check (no callback) */
	records = 0;
	assert_int_equal(wal_snap_read(path, &lsn, NULL, NULL, &records, err, sizeof err), 0);
	assert_int_equal(records, SNAP_NLENS);
	/* an empty snapshot: only the end record */
	snap_make(f->tmp, 7, NULL, 0);
	snprintf(path, sizeof path, "%s/snap-0000000000000007.snap", f->tmp);
	assert_int_equal(wal_snap_read(path, &lsn, snap_cb, &s, &records, err, sizeof err), 0);
	assert_int_equal(lsn, 7);
	assert_int_equal(records, 0);
}

/* A snapshot larger than the reader's window (1 MiB; the file can be as large as the state):
 * records across window boundaries, and one record larger than the window (it grows), all
 * read back whole and in order. The reader used to read the whole file into memory. */
static void test_snap_larger_than_window(void **state)
{
	struct fx *f = *state;
	enum { N = 250 }; /* (record types 1..250: 0xff ends a snapshot) */
	static uint32_t lens[N];
	for (size_t i = 0; i < N; i++)
		lens[i] = (uint32_t)(1000 + (i * 7919) % 20000); /* about 2.7 MB in all */
	lens[125] = 3u << 20; /* 3 MiB */
	snap_make(f->tmp, 0x99, lens, N);
	char path[600];
	snprintf(path, sizeof path, "%s/snap-0000000000000099.snap", f->tmp);
	struct snap_seen s = {.lens = lens, .n = N};
	char err[800] = "";
	uint64_t lsn = 0, records = 0;
	assert_int_equal(wal_snap_read(path, &lsn, snap_cb, &s, &records, err, sizeof err), 0);
	assert_int_equal(records, N);
	assert_int_equal(s.count, N);
}

/* A snapshot cut at every length: never accepted, the callback sees only whole records, and
 * the error names the offset of the record the cut is in (or the header). */
static void test_snap_cut_every_length(void **state)
{
	struct fx *f = *state;
	snap_make(f->tmp, 9, snap_small_lens, SNAP_NSMALL);
	char path[600], want[800];
	snprintf(path, sizeof path, "%s/snap-0000000000000009.snap", f->tmp);
	size_t size;
	uint8_t *img = slurp(path, &size);
	size_t off[SNAP_NSMALL + 1];
	snap_offsets(snap_small_lens, SNAP_NSMALL, off);
	assert_int_equal(size, off[SNAP_NSMALL] + 17);
	for (size_t cut = 0; cut < size; cut++) {
		spit(path, img, cut);
		if (cut < 32) {
			snprintf(want, sizeof want, "%s:0: not a snapshot (bad header)", path);
			assert_int_equal(
			    snap_expect(path, snap_small_lens, SNAP_NSMALL, -EBADMSG, want), 0);
			continue;
		}
		size_t k = 0; /* the record the cut is in (SNAP_NSMALL: the end record) */
		while (k < SNAP_NSMALL && off[k + 1] <= cut)
			k++;
		bool in_header = cut - off[k] < 9;
		snprintf(want, sizeof want, "%s:%zu: %s", path, off[k],
			 in_header ? "cut short (no end record)" : "bad length");
		assert_int_equal(snap_expect(path, snap_small_lens, SNAP_NSMALL, -EBADMSG, want),
				 k);
	}
	/* a byte more than the end record is damage too */
	uint8_t *more = malloc(size + 1);
	assert_non_null(more);
	memcpy(more, img, size);
	more[size] = 0;
	spit(path, more, size + 1);
	snprintf(want, sizeof want, "%s:%zu: bad end record", path, off[SNAP_NSMALL]);
	snap_expect(path, snap_small_lens, SNAP_NSMALL, -EBADMSG, want);
	free(more);
	free(img);
}

static void test_snap_damage(void **state)
{
	struct fx *f = *state;
	snap_make(f->tmp, 0x40, snap_lens, SNAP_NLENS);
	char path[600], want[800];
	snprintf(path, sizeof path, "%s/snap-0000000000000040.snap", f->tmp);
	size_t size;
	uint8_t *img = slurp(path, &size);
	size_t off[SNAP_NLENS + 1];
	snap_offsets(snap_lens, SNAP_NLENS, off);
	/* a flipped payload byte: the records before it pass, that one is refused */
	for (size_t k = 0; k < SNAP_NLENS; k++) {
		if (snap_lens[k] == 0)
			continue;
		size_t at = off[k] + 9 + snap_lens[k] / 2;
		img[at] ^= 0x10;
		spit(path, img, size);
		snprintf(want, sizeof want, "%s:%zu: checksum mismatch", path, off[k]);
		assert_int_equal(snap_expect(path, snap_lens, SNAP_NLENS, -EBADMSG, want), k);
		img[at] ^= 0x10;
	}
	/* a flipped type byte of the empty record */
	img[off[1] + 8] ^= 1;
	spit(path, img, size);
	snprintf(want, sizeof want, "%s:%zu: checksum mismatch", path, off[1]);
	assert_int_equal(snap_expect(path, snap_lens, SNAP_NLENS, -EBADMSG, want), 1);
	img[off[1] + 8] ^= 1;
	/* the end record's count */
	img[off[SNAP_NLENS] + 9] ^= 1;
	spit(path, img, size);
	snprintf(want, sizeof want, "%s:%zu: checksum mismatch", path, off[SNAP_NLENS]);
	snap_expect(path, snap_lens, SNAP_NLENS, -EBADMSG, want);
	img[off[SNAP_NLENS] + 9] ^= 1;
	/* a bad magic, a bad header checksum: not a snapshot */
	snprintf(want, sizeof want, "%s:0: not a snapshot (bad header)", path);
	for (size_t at = 0; at < 28; at += 3) {
		img[at] ^= 0x80;
		spit(path, img, size);
		assert_int_equal(snap_expect(path, snap_lens, SNAP_NLENS, -EBADMSG, want), 0);
		img[at] ^= 0x80;
	}
	/* an unknown version (with a good header checksum) */
	img[8] = 2;
	uint32_t crc = wal_crc32c(0, img, 24);
	for (int i = 0; i < 4; i++)
		img[24 + i] = (uint8_t)(crc >> (8 * i));
	spit(path, img, size);
	snprintf(want, sizeof want, "%s:0: unsupported snapshot version 2 (this build reads 1)",
		 path);
	assert_int_equal(snap_expect(path, snap_lens, SNAP_NLENS, -EPROTONOSUPPORT, want), 0);
	/* a missing file */
	snprintf(path, sizeof path, "%s/snap-0000000000000041.snap", f->tmp);
	snap_expect(path, snap_lens, SNAP_NLENS, -ENOENT, NULL);
	free(img);
}

/* The callback's nonzero return stops the read and is returned. */
static void test_snap_callback_stops(void **state)
{
	struct fx *f = *state;
	snap_make(f->tmp, 3, snap_small_lens, SNAP_NSMALL);
	char path[600], err[600] = "";
	snprintf(path, sizeof path, "%s/snap-0000000000000003.snap", f->tmp);
	struct snap_seen s = {.lens = snap_small_lens, .n = SNAP_NSMALL, .stop_at = 3};
	uint64_t lsn, records = 99;
	assert_int_equal(wal_snap_read(path, &lsn, snap_cb, &s, &records, err, sizeof err), 42);
	assert_int_equal(s.count, 3);
	assert_true(records < SNAP_NSMALL);
}

/* Regressions: a record of type WAL_SNAP_END was written as is, and the snapshot, reported
 * written, never read back (the reader stops at the first end record); a file whose name says
 * another LSN than its header was read with the header's LSN while chosen by its name. */
static void test_snap_end_type_and_name(void **state)
{
	struct fx *f = *state;
	struct wal_snap_writer *w = NULL;
	char err[600] = "", path[600], want[800];
	assert_int_equal(wal_snap_create(f->tmp, 0x64, &w, err, sizeof err), 0);
	uint8_t p[8] = {0}, t;
	snap_content(0, 5, p, &t);
	assert_int_equal(wal_snap_add(w, t, p, 5), 0);
	assert_int_equal(wal_snap_add(w, WAL_SNAP_END, p, 8), -EINVAL);
	snap_content(1, 0, p, &t);
	assert_int_equal(wal_snap_add(w, t, NULL, 0), 0);
	assert_int_equal(wal_snap_finish(w, NULL, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/snap-0000000000000064.snap", f->tmp);
	assert_int_equal(snap_expect(path, snap_small_lens, 2, 0, NULL), 2);
	/* renamed by hand: damage; under a name that is not a snapshot's, the header decides */
	char other[600];
	snprintf(other, sizeof other, "%s/snap-0000000000000065.snap", f->tmp);
	assert_int_equal(rename(path, other), 0);
	snprintf(want, sizeof want, "%s:0: the header says LSN 100, the name 101", other);
	assert_int_equal(snap_expect(other, snap_small_lens, 2, -EBADMSG, want), 0);
	snprintf(path, sizeof path, "%s/copy.snap", f->tmp);
	assert_int_equal(rename(other, path), 0);
	assert_int_equal(snap_expect(path, snap_small_lens, 2, 0, NULL), 2);
}

static void touch(const char *dir, const char *name)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	spit(p, (const uint8_t *)"x", 1);
}

static bool exists(const char *dir, const char *name)
{
	char p[600];
	seg_path(p, sizeof p, dir, name);
	return access(p, F_OK) == 0;
}

static void test_snap_latest_and_remove(void **state)
{
	struct fx *f = *state;
	char path[600], want[600];
	uint64_t lsn = 0;
	assert_int_equal(wal_snap_latest(f->tmp, path, sizeof path, &lsn), -ENOENT);
	snap_make(f->tmp, 5, snap_small_lens, 2);
	snap_make(f->tmp, 0x20, snap_small_lens, 2);
	snap_make(f->tmp, 0x1f, snap_small_lens, 2);
	/* not snapshots: a leftover temporary file with a higher LSN, other names */
	touch(f->tmp, "snap-0000000000000040.tmp");
	touch(f->tmp, "snap-00000000000000ff.snapx");
	touch(f->tmp, "snap-000000000000100.snap");
	touch(f->tmp, "snap-00000000000000FF.snap");
	touch(f->tmp, "wal-0000000000000100.log");
	assert_int_equal(wal_snap_latest(f->tmp, path, sizeof path, &lsn), 0);
	assert_int_equal(lsn, 0x20);
	snprintf(want, sizeof want, "%s/snap-0000000000000020.snap", f->tmp);
	assert_string_equal(path, want);
	/* older snapshots and every temporary file go; the newer and other names stay */
	assert_int_equal(wal_snap_remove_before(f->tmp, 0x20), 3);
	assert_false(exists(f->tmp, "snap-0000000000000005.snap"));
	assert_false(exists(f->tmp, "snap-000000000000001f.snap"));
	assert_false(exists(f->tmp, "snap-0000000000000040.tmp"));
	assert_true(exists(f->tmp, "snap-0000000000000020.snap"));
	assert_true(exists(f->tmp, "snap-00000000000000ff.snapx"));
	assert_true(exists(f->tmp, "snap-000000000000100.snap"));
	assert_true(exists(f->tmp, "snap-00000000000000FF.snap"));
	assert_true(exists(f->tmp, "wal-0000000000000100.log"));
	assert_int_equal(wal_snap_remove_before(f->tmp, 0x20), 0);
	assert_int_equal(wal_snap_latest(f->tmp, path, sizeof path, &lsn), 0);
	assert_int_equal(lsn, 0x20);
	char missing[600];
	snprintf(missing, sizeof missing, "%s/nothing", f->tmp);
	assert_int_equal(wal_snap_latest(missing, path, sizeof path, &lsn), -ENOENT);
	assert_int_equal(wal_snap_remove_before(missing, 1), -ENOENT);
}

/* wal_snap_abort leaves no file, at any point of the writing. */
static void test_snap_abort(void **state)
{
	struct fx *f = *state;
	char err[600] = "";
	for (size_t n = 0; n <= SNAP_NLENS; n += 4) {
		struct wal_snap_writer *w = NULL;
		assert_int_equal(wal_snap_create(f->tmp, 0x99, &w, err, sizeof err), 0);
		assert_true(exists(f->tmp, "snap-0000000000000099.tmp"));
		for (size_t i = 0; i < n && i < SNAP_NLENS; i++) {
			uint8_t *p = malloc(snap_lens[i] + 1), t;
			assert_non_null(p);
			snap_content(i, snap_lens[i], p, &t);
			assert_int_equal(wal_snap_add(w, t, p, snap_lens[i]), 0);
			free(p);
		}
		wal_snap_abort(w);
		assert_false(exists(f->tmp, "snap-0000000000000099.tmp"));
		assert_false(exists(f->tmp, "snap-0000000000000099.snap"));
	}
	wal_snap_abort(NULL);
	char path[600];
	uint64_t lsn;
	assert_int_equal(wal_snap_latest(f->tmp, path, sizeof path, &lsn), -ENOENT);
	/* a directory that does not exist: create fails with its reason */
	char missing[600];
	snprintf(missing, sizeof missing, "%s/nothing", f->tmp);
	struct wal_snap_writer *w = NULL;
	assert_int_equal(wal_snap_create(missing, 1, &w, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "snap-0000000000000001.tmp: No such file or directory"));
}

/* ---- `curpkv wal-check` on the real binary ---- */

/* Runs curpkv wal-check dir [--truncate]; returns its exit status, its output in *out. */
static int run_check(const char *tmp, const char *dir, bool truncate, char **out)
{
	char bin[512], log[400];
	snprintf(log, sizeof log, "%s/check.out", tmp);
	char *argv[] = {(char *)proc_curpkv_path(bin, sizeof bin), "wal-check", (char *)dir,
			truncate ? "--truncate" : NULL, NULL};
	struct proc p;
	assert_int_equal(proc_start(&p, "wal-check", log, argv), 0);
	int st = proc_wait(&p, 20000);
	size_t n;
	*out = (char *)slurp(log, &n);
	return st;
}

static void test_wal_check_command(void **state)
{
	struct fx *f = *state;
	char *out;
	assert_true(make_log(f->dir, 512, 60) >= 3);
	/* good */
	assert_int_equal(run_check(f->tmp, f->dir, false, &out), 0);
	assert_non_null(strstr(out, SEG0 ": LSN 1.."));
	assert_non_null(strstr(out, "ok: 59 records, LSN 1..59\n"));
	free(out);
	/* torn: the last segment's last record half-written */
	struct wal_opts o = opts(512, WAL_FSYNC_NO);
	struct wal *w = reopen(f->dir, &o, 1, NULL);
	struct wal_seg_info si;
	size_t k = 0;
	while (wal_segment(w, k + 1, &si) == 0)
		k++;
	assert_int_equal(wal_segment(w, k, &si), 0);
	wal_close(w);
	assert_true(si.records >= 1);
	char last[400];
	seg_path(last, sizeof last, f->dir, si.name);
	size_t size;
	uint8_t *img = slurp(last, &size);
	size_t off = rec_off(img, si.records - 1);
	memset(img + off + 10, 0, 7);
	spit(last, img, size);
	assert_int_equal(run_check(f->tmp, f->dir, false, &out), 0);
	char want[600];
	snprintf(want, sizeof want, "torn tail: %s:%zu: checksum mismatch", last, off);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "truncated there at the next start"));
	assert_non_null(strstr(out, "ok: 58 records, LSN 1..58\n"));
	free(out);
	/* the check changed nothing */
	size_t size2;
	uint8_t *same = slurp(last, &size2);
	assert_memory_equal(same, img, size);
	free(same);
	/* corrupt: a middle record of the first segment */
	char p0[400];
	seg_path(p0, sizeof p0, f->dir, SEG0);
	uint8_t *b0 = slurp(p0, &size);
	size_t off0 = rec_off(b0, 1);
	b0[off0 + 9] ^= 4;
	spit(p0, b0, size);
	assert_int_equal(run_check(f->tmp, f->dir, false, &out), 1);
	snprintf(want, sizeof want, "%s:%zu: checksum mismatch\n", p0, off0);
	assert_string_equal(out, want);
	free(out);
	/* --truncate cuts there, removes the later segments, says so; then it checks ok */
	assert_int_equal(run_check(f->tmp, f->dir, true, &out), 0);
	snprintf(want, sizeof want, "truncated: %s:%zu: checksum mismatch", p0, off0);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "ok: 1 records, LSN 1..1\n"));
	free(out);
	assert_int_equal(run_check(f->tmp, f->dir, false, &out), 0);
	assert_non_null(strstr(out, "ok: 1 records, LSN 1..1\n"));
	free(out);
	/* usage and a missing directory */
	char missing[400];
	snprintf(missing, sizeof missing, "%s/nothing", f->tmp);
	assert_int_equal(run_check(f->tmp, missing, false, &out), 2);
	assert_non_null(strstr(out, "No such file or directory"));
	free(out);
	free(img);
	free(b0);
}

/* The segments of the log in dir (CHECK mode): their count, names and first LSNs in si[]. */
static size_t list_segs(const char *dir, struct wal_seg_info *si, size_t max)
{
	struct wal_opts o = {.mode = WAL_MODE_CHECK};
	struct wal *w = reopen(dir, &o, 1, NULL);
	size_t n = 0;
	while (n < max && wal_segment(w, n, &si[n]) == 0)
		n++;
	wal_close(w);
	return n;
}

/* Expects `curpkv wal-check dir [--truncate]` to exit with st and print each of the lines
 * (NULL-terminated) somewhere in its output. */
static void expect_wal_check(struct fx *f, bool truncate, int st, ...)
{
	char *out;
	int got = run_check(f->tmp, f->dir, truncate, &out);
	if (got != st)
		fail_msg("wal-check%s: exit %d (want %d):\n%s", truncate ? " --truncate" : "", got,
			 st, out);
	va_list ap;
	va_start(ap, st);
	const char *line;
	while ((line = va_arg(ap, const char *)) != NULL)
		if (strstr(out, line) == NULL)
			fail_msg("wal-check: no '%s' in:\n%s", line, out);
	va_end(ap);
	free(out);
}

/* wal-check with snapshots: a good one, a damaged one, a log that ends before its snapshot or
 * starts after it, --truncate allowed above the snapshot's LSN and refused below it. */
static void test_wal_check_snapshot(void **state)
{
	struct fx *f = *state;
	struct wal_seg_info si[64];
	make_log(f->dir, 512, 60);
	size_t nseg = list_segs(f->dir, si, 64);
	assert_true(nseg >= 4);
	/* good: a snapshot at LSN 30 */
	snap_make(f->dir, 30, snap_small_lens, SNAP_NSMALL);
	expect_wal_check(f, false, 0,
			 "snapshot snap-000000000000001e.snap: 6 records, LSN 30: ok\n",
			 "ok: 59 records, LSN 1..59\n",
			 "the log reaches its snapshot (LSN 30): next LSN 60\n", NULL);
	/* a damaged newer snapshot: reported, and --truncate changes nothing */
	snap_make(f->dir, 40, snap_small_lens, SNAP_NSMALL);
	char sp[600], want[900];
	snprintf(sp, sizeof sp, "%s/snap-0000000000000028.snap", f->dir);
	size_t size;
	uint8_t *img = slurp(sp, &size);
	size_t off[SNAP_NSMALL + 1];
	snap_offsets(snap_small_lens, SNAP_NSMALL, off);
	img[off[2] + 20] ^= 1;
	spit(sp, img, size);
	snprintf(want, sizeof want, "%s:%zu: checksum mismatch\n", sp, off[2]);
	expect_wal_check(f, false, 1, want, "ok: 59 records, LSN 1..59\n", NULL);
	expect_wal_check(f, true, 1, want, "not truncated: the newest snapshot is damaged",
			 "ok: 59 records, LSN 1..59\n", NULL);
	assert_int_equal(unlink(sp), 0);
	free(img);
	/* a snapshot beyond the log's end */
	snap_make(f->dir, 80, snap_small_lens, 1);
	expect_wal_check(f, false, 1,
			 "snapshot snap-0000000000000050.snap: 1 records, LSN 80: ok\n",
			 "the log ends at LSN 60, before its snapshot (LSN 80)\n", NULL);
	snprintf(sp, sizeof sp, "%s/snap-0000000000000050.snap", f->dir);
	assert_int_equal(unlink(sp), 0);
	/* damage above the snapshot's LSN: --truncate cuts it */
	char p[400];
	seg_path(p, sizeof p, f->dir, si[nseg - 2].name);
	assert_true(si[nseg - 2].first_lsn > 31);
	uint8_t *b = slurp(p, &size);
	size_t roff = rec_off(b, 1);
	b[roff + 9] ^= 4;
	spit(p, b, size);
	free(b);
	snprintf(want, sizeof want, "%s:%zu: checksum mismatch\n", p, roff);
	expect_wal_check(f, false, 1, want, NULL);
	uint64_t cut = si[nseg - 2].first_lsn + 1;
	char reach[200];
	snprintf(reach, sizeof reach, "the log reaches its snapshot (LSN 30): next LSN %llu\n",
		 (unsigned long long)cut);
	expect_wal_check(f, true, 0, "truncated: ", reach, NULL);
	expect_wal_check(f, false, 0, reach, NULL);
	/* damage below it: --truncate refuses and changes nothing */
	seg_path(p, sizeof p, f->dir, si[0].name);
	b = slurp(p, &size);
	roff = rec_off(b, 1);
	b[roff + 9] ^= 4;
	spit(p, b, size);
	snprintf(want, sizeof want,
		 "not truncated: --truncate would cut the log (%s:%zu: checksum mismatch, ", p,
		 roff);
	expect_wal_check(f, true, 1, want,
			 "to end at LSN 2, before its snapshot (LSN 30); move the snapshot away",
			 NULL);
	size_t size2;
	uint8_t *same = slurp(p, &size2);
	assert_int_equal(size2, size);
	assert_memory_equal(same, b, size);
	free(same);
	for (size_t i = 0; i + 1 < nseg; i++) /* (the last went with the cut above) */
		assert_true(exists(f->dir, si[i].name));
	b[roff + 9] ^= 4;
	spit(p, b, size);
	free(b);
	/* a log that starts after its snapshot: the segments up to LSN 30 removed by hand */
	size_t k = 0;
	while (si[k + 1].first_lsn <= 30) {
		seg_path(p, sizeof p, f->dir, si[k].name);
		assert_int_equal(unlink(p), 0);
		k++;
	}
	seg_path(p, sizeof p, f->dir, si[k].name);
	assert_int_equal(unlink(p), 0);
	snprintf(want, sizeof want,
		 "the log starts at LSN %llu, after its snapshot (LSN 30): LSN 30..%llu missing\n",
		 (unsigned long long)si[k + 1].first_lsn,
		 (unsigned long long)si[k + 1].first_lsn - 1);
	expect_wal_check(f, false, 1, want, NULL);
	/* and without its snapshot */
	snprintf(sp, sizeof sp, "%s/snap-000000000000001e.snap", f->dir);
	assert_int_equal(unlink(sp), 0);
	snprintf(want, sizeof want,
		 "the log starts at LSN %llu without a snapshot: LSN 1..%llu missing\n",
		 (unsigned long long)si[k + 1].first_lsn,
		 (unsigned long long)si[k + 1].first_lsn - 1);
	expect_wal_check(f, false, 1, want, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc_check_value),
	    cmocka_unit_test(test_crc_hw_matches_sw),
	    cmocka_unit_test(test_fsync_words),
	    cmocka_unit_test_setup_teardown(test_round_trip_segments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_before_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail_every_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flip_middle_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flip_non_last_segment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lsn_gap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncate_before, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_write_and_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segment_creation_fails_then_recovers, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_state_dir_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_everysec_and_no, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_after_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_roll_from_empty_segment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_and_repair_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_repair_dry_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_larger_than_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_cut_every_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_damage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_callback_stops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_end_type_and_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_latest_and_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_abort, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wal_check_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wal_check_snapshot, setup, teardown),
	};
	if (getenv("WAL_TESTS"))
		cmocka_set_test_filter(getenv("WAL_TESTS"));
	return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
