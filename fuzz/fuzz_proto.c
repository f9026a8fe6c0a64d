/* Fuzz target: proto_decode on arbitrary bodies and frame streams, and SCAN results.
 * Properties: nothing reads outside the input (sanitizers); a body that decodes re-encodes,
 * the re-encoded body decodes, and encoding is then a fixed point (same bytes again). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "proto/proto.h"

static const struct proto_limits lim = {.max_frame = 1u << 16, .max_key = 1024, .max_value = 4096};

static void check(int ok)
{
	if (!ok)
		abort();
}

/* Encodes m, decodes the body, encodes that: both encodings must be identical. */
static void round_trip(const struct proto_msg *m)
{
	struct proto_buf a, b;
	proto_buf_init(&a, 1u << 20);
	proto_buf_init(&b, 1u << 20);
	int rc = proto_encode(&a, m, lim.max_frame);
	check(rc == 0 || rc == -ENOMEM);
	if (rc == 0) {
		struct proto_msg *m2 = malloc(sizeof *m2);
		check(m2 != NULL);
		check(proto_frame_peek(a.data, a.len, lim.max_frame) == (long)a.len);
		rc = proto_decode(a.data + PROTO_FRAME_HEADER, a.len - PROTO_FRAME_HEADER, &lim, m2);
		check(rc == 0 || rc == -ENOMEM);
		if (rc == 0 && proto_encode(&b, m2, lim.max_frame) == 0)
			check(b.len == a.len && memcmp(a.data, b.data, a.len) == 0);
		free(m2);
	}
	proto_buf_free(&a);
	proto_buf_free(&b);
}

static void scan_walk(const uint8_t *data, size_t size)
{
	uint32_t off = 0, kl, vl;
	const uint8_t *k, *v;
	uint32_t len = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	int rc;
	while ((rc = proto_scan_next(data, len, &off, &k, &kl, &v, &vl)) == 1)
		check(k >= data && v >= k && v + vl <= data + len && off <= len);
	check(rc == 0 || rc == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg *m = malloc(sizeof *m);
	if (m == NULL)
		return 0;
	/* the input as one body */
	int rc = proto_decode(data, size, &lim, m);
	check(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
	if (rc == 0)
		round_trip(m);
	/* the input as a stream of frames */
	size_t off = 0;
	for (int i = 0; i < 64 && off < size; i++) {
		long n = proto_frame_peek(data + off, size - off, lim.max_frame);
		if (n <= 0)
			break;
		check((size_t)n <= size - off && n >= (long)PROTO_FRAME_HEADER);
		rc = proto_decode(data + off + PROTO_FRAME_HEADER, (size_t)n - PROTO_FRAME_HEADER,
				  &lim, m);
		check(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
		off += (size_t)n;
	}
	free(m);
	scan_walk(data, size);
	return 0;
}
