/* Fuzz target: the RESP2 request parser (resp/) on arbitrary bytes, as the gateway feeds it: the
 * whole input parsed request after request, then again split at every 7th byte as if it came in
 * pieces. Properties: no memory errors (sanitizers); a result is 1, 0 or -EPROTO (with Redis's
 * "Protocol error: " text), never anything else; a request's consumed length and arguments lie
 * inside the input (or the inline scratch space) and respect the limits; parsing whole and in
 * pieces gives the same requests and the same verdict. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "resp/resp.h"

static const struct resp_limits lim = {.max_bulk = 512, .max_args = 64, .max_request = 4096};

/* Mixes every request's arguments into a digest; returns the final verdict (0 at a clean
 * end or incomplete tail, -EPROTO). chunk: feed the input growing by this many bytes. */
static int run(const uint8_t *data, size_t size, size_t chunk, uint64_t *digest, size_t *nreq)
{
	struct resp_parser p;
	resp_parser_init(&p, &lim);
	size_t off = 0, have = chunk ? 0 : size;
	uint64_t h = 1469598103934665603ull;
	int verdict = 0;
	*nreq = 0;
	for (;;) {
		size_t used = 0;
		int rc = resp_parse(&p, data + off, have - off, &used);
		if (rc != 1 && rc != 0 && rc != -EPROTO && rc != -ENOMEM)
			abort();
		if (used > have - off)
			abort();
		if (rc == -EPROTO) {
			if (strncmp(p.err, "Protocol error: ", 16) != 0)
				abort();
			verdict = rc;
			break;
		}
		if (rc == -ENOMEM)
			break;
		off += used;
		if (rc == 0) {
			if (have == size)
				break;
			have = have + chunk < size ? have + chunk : size;
			continue;
		}
		if (p.argc == 0 || p.argc > lim.max_args)
			abort();
		for (uint32_t i = 0; i < p.argc; i++) {
			const uint8_t *a = p.argv[i].p;
			size_t n = p.argv[i].len;
			bool in_input = a >= data && a + n <= data + size;
			bool in_scratch = a >= p.scratch && a + n <= p.scratch + p.scratch_cap;
			if ((!in_input && !in_scratch) || n > lim.max_bulk + RESP_INLINE_MAX)
				abort();
			for (size_t k = 0; k < n; k++)
				h = (h ^ a[k]) * 1099511628211ull;
			h = (h ^ 0x100) * 1099511628211ull;
		}
		h = (h ^ 0x200) * 1099511628211ull;
		(*nreq)++;
	}
	resp_parser_free(&p);
	*digest = h;
	return verdict;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 16))
		return 0;
	uint64_t d1, d2;
	size_t n1, n2;
	int v1 = run(data, size, 0, &d1, &n1);
	int v2 = run(data, size, 7, &d2, &n2);
	/* in pieces, an error can only come at the same request as whole: the same requests
	 * before it, and the same verdict */
	if (v1 != v2 || d1 != d2 || n1 != n2)
		abort();
	return 0;
}
