/* Fuzz target: a WAL segment file (wal/) from arbitrary bytes, read as `curpkv wal-check` reads it
 * and as a start does. Properties: no memory errors or leaks (sanitizers); the read-only check
 * and the start agree (same result, same records); after a start that succeeded, the log is
 * clean: an appended record commits and a second start finds every record and drops nothing. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "wal/wal.h"

static int count_cb(void *arg, uint64_t lsn, uint8_t type, const uint8_t *p, uint32_t len)
{
	(void)lsn;
	(void)type;
	volatile uint8_t sink = len ? p[len - 1] : 0; /* the payload is readable */
	(void)sink;
	(*(uint64_t *)arg)++;
	return 0;
}

/* Opens dir in mode and replays it: the result, the records in *n; the wal in *keep (may be
 * NULL) when it succeeded. */
static int read_log(const char *dir, enum wal_mode mode, uint64_t *n, struct wal **keep)
{
	struct wal_opts o = {.fsync = WAL_FSYNC_NO, .mode = mode, .segment_bytes = 4096};
	struct wal *w = NULL;
	char err[512];
	*n = 0;
	int rc = wal_open(dir, &o, &w, err, sizeof err);
	if (rc == 0)
		rc = wal_replay(w, count_cb, n, err, sizeof err);
	if (rc == 0 && keep)
		*keep = w;
	else
		wal_close(w);
	return rc;
}

/* Removes dir, which holds only files (no subdirectories); passes until it is empty (removing
 * while reading may skip names). */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		abort();
	for (bool removed = true; removed;) {
		removed = false;
		rewinddir(d);
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (unlinkat(dirfd(d), e->d_name, 0) != 0)
				abort();
			removed = true;
		}
	}
	if (closedir(d) != 0 || rmdir(dir) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 16))
		return 0;
	const char *t = getenv("TMPDIR");
	char dir[512], path[600];
	snprintf(dir, sizeof dir, "%s/curpkv-fuzz-wal.XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/wal-0000000000000001.log", dir);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	uint64_t n1, n2, n3;
	int rc1 = read_log(dir, WAL_MODE_CHECK, &n1, NULL);
	struct wal *w = NULL;
	int rc2 = read_log(dir, WAL_MODE_NORMAL, &n2, &w);
	if (rc1 != rc2 || (rc1 == 0 && n1 != n2))
		abort();
	if (rc2 == 0) {
		uint64_t lsn;
		if (wal_append(w, 7, "after", 5, &lsn) != 0 || wal_commit(w) != 0)
			abort();
		wal_close(w);
		struct wal *w2 = NULL;
		if (read_log(dir, WAL_MODE_NORMAL, &n3, &w2) != 0 || n3 != n2 + 1 ||
		    wal_dropped(w2, NULL, 0) || wal_next_lsn(w2) != lsn + 1)
			abort();
		wal_close(w2);
	}
	remove_dir(dir);
	return 0;
}
