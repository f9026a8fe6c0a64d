/* A stand-alone driver for the fuzz targets, for builds without libFuzzer (the `make check`
 * smoke): runs the target on every file of the corpus directories, then on `rounds` seeded
 * mutations of each (bit flips, byte changes, truncations, insertions, splices with another
 * corpus file). A failed property aborts, which fails the test; success prints a TAP line.
 * Usage: prog [-r ROUNDS] [-s SEED] DIR|FILE...   (default: the corpus compiled in, FUZZ_ROUNDS
 * rounds: 1000 unless the target's build says fewer) */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/rng.h"
#include "fuzz/fuzz.h"

#define FUZZ_MAX_INPUT (1u << 16)
#ifndef FUZZ_ROUNDS
#define FUZZ_ROUNDS 1000
#endif
#define MAX_FILES 4096

struct corpus {
	uint8_t *data[MAX_FILES];
	size_t len[MAX_FILES];
	int n;
};

static void add_file(struct corpus *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL || c->n == MAX_FILES) {
		if (f)
			fclose(f);
		return;
	}
	uint8_t *buf = malloc(FUZZ_MAX_INPUT);
	size_t n = buf ? fread(buf, 1, FUZZ_MAX_INPUT, f) : 0;
	fclose(f);
	if (buf == NULL)
		return;
	c->data[c->n] = buf;
	c->len[c->n] = n;
	c->n++;
}

static void add_path(struct corpus *c, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "fuzz-driver: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		add_file(c, path);
		return;
	}
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		add_file(c, p);
	}
	if (d)
		closedir(d);
}

/* One mutation of src into out (FUZZ_MAX_INPUT bytes); returns its length. */
static size_t mutate(struct common_rng *r, const struct corpus *c, const uint8_t *src, size_t n,
		     uint8_t *out)
{
	memcpy(out, src, n);
	int steps = 1 + (int)common_rng_below(r, 4);
	for (int i = 0; i < steps; i++) {
		switch (common_rng_below(r, 6)) {
		case 0: /* flip a bit */
			if (n)
				out[common_rng_below(r, n)] ^= (uint8_t)(1u << common_rng_below(r, 8));
			break;
		case 1: /* an interesting byte */
			if (n) {
				static const uint8_t v[] = {0, 1, 0x7f, 0x80, 0xff, 0xc0, 0xc4, 0xdc,
							    0xdd, 0xde, 0xdf, 0x90, 0x9f, '\n', ':'};
				out[common_rng_below(r, n)] = v[common_rng_below(r, sizeof v)];
			}
			break;
		case 2: /* truncate */
			if (n)
				n = common_rng_below(r, n);
			break;
		case 3: /* insert random bytes */
			if (n < FUZZ_MAX_INPUT - 8) {
				size_t at = common_rng_below(r, n + 1), k = 1 + common_rng_below(r, 8);
				memmove(out + at + k, out + at, n - at);
				for (size_t j = 0; j < k; j++)
					out[at + j] = (uint8_t)common_rng_next(r);
				n += k;
			}
			break;
		case 4: /* splice: the tail of another corpus file */
			if (c->n) {
				int o = (int)common_rng_below(r, (uint64_t)c->n);
				size_t from = c->len[o] ? common_rng_below(r, c->len[o]) : 0;
				size_t at = common_rng_below(r, n + 1);
				size_t k = c->len[o] - from;
				if (at + k > FUZZ_MAX_INPUT)
					k = FUZZ_MAX_INPUT - at;
				memcpy(out + at, c->data[o] + from, k);
				n = at + k;
			}
			break;
		default: /* duplicate a chunk */
			if (n && n < FUZZ_MAX_INPUT / 2) {
				size_t at = common_rng_below(r, n), k = 1 + common_rng_below(r, n - at);
				memmove(out + at + k, out + at, n - at);
				n += k;
			}
			break;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned long rounds = FUZZ_ROUNDS;
	uint64_t seed = 1;
	static struct corpus c;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-r") && i + 1 < argc)
			rounds = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-s") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: %s [-r ROUNDS] [-s SEED] DIR|FILE...\n", argv[0]);
			return 2;
		}
	}
	if (i == argc) {
#ifdef FUZZ_CORPUS
		/* FUZZ_CORPUS: colon-separated directories */
		char list[4096];
		snprintf(list, sizeof list, "%s", FUZZ_CORPUS);
		for (char *save = NULL, *p = strtok_r(list, ":", &save); p;
		     p = strtok_r(NULL, ":", &save))
			add_path(&c, p);
#endif
	}
	for (; i < argc; i++)
		add_path(&c, argv[i]);
	if (c.n == 0) {
		fprintf(stderr, "fuzz-driver: empty corpus\n");
		return 2;
	}
	struct common_rng r;
	common_rng_seed(&r, seed);
	uint8_t *buf = malloc(FUZZ_MAX_INPUT);
	if (buf == NULL)
		return 1;
	unsigned long runs = 0;
	for (int f = 0; f < c.n; f++) {
		LLVMFuzzerTestOneInput(c.data[f], c.len[f]);
		runs++;
		for (unsigned long k = 0; k < rounds; k++) {
			size_t n = mutate(&r, &c, c.data[f], c.len[f], buf);
			LLVMFuzzerTestOneInput(buf, n);
			runs++;
		}
	}
	/* TAP, for the automake test driver: reaching here means no input failed */
	printf("1..1\nok 1 - %s: %d corpus files, %lu inputs, seed %llu, 0 failures\n", argv[0],
	       c.n, runs, (unsigned long long)seed);
	for (int f = 0; f < c.n; f++)
		free(c.data[f]);
	free(buf);
	return 0;
}
