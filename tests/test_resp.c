/* Unit tests for resp/: multibulk and inline requests whole and byte by byte, pipelined
 * requests, every limit and malformation as -EPROTO with Redis's text, and the reply encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp/resp.h"

static const struct resp_limits lim = {.max_bulk = 100, .max_args = 8, .max_request = 400};

/* Parses s (n bytes) as one request: returns resp_parse's result, *used. */
static int parse(struct resp_parser *p, const char *s, size_t n, size_t *used)
{
	return resp_parse(p, (const uint8_t *)s, n, used);
}

static void assert_arg(const struct resp_parser *p, uint32_t i, const char *want, size_t n)
{
	assert_true(i < p->argc);
	assert_int_equal(p->argv[i].len, n);
	assert_memory_equal(p->argv[i].p, want, n);
}

static void test_multibulk(void **state)
{
	(void)state;
	struct resp_parser p;
	resp_parser_init(&p, &lim);
	const char *req = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n";
	size_t n = strlen(req), used;
	assert_int_equal(parse(&p, req, n, &used), 1);
	assert_int_equal(used, n);
	assert_int_equal(p.argc, 3);
	assert_false(p.inline_req);
	assert_arg(&p, 0, "SET", 3);
	assert_arg(&p, 1, "k", 1);
	assert_arg(&p, 2, "a\r\nb", 4); /* binary-safe: CRLF inside a bulk */
	/* every proper prefix is incomplete, never an error */
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(parse(&p, req, k, &used), 0);
		assert_int_equal(used, 0);
	}
	/* an empty bulk and an empty array (skipped) */
	const char *e = "*0\r\n*-1\r\n*1\r\n$0\r\n\r\n";
	assert_int_equal(parse(&p, e, strlen(e), &used), 1);
	assert_int_equal(used, strlen(e));
	assert_int_equal(p.argc, 1);
	assert_int_equal(p.argv[0].len, 0);
	resp_parser_free(&p);
}

static void test_pipelined(void **state)
{
	(void)state;
	struct resp_parser p;
	resp_parser_init(&p, &lim);
	const char *req = "*1\r\n$4\r\nPING\r\nPING hello\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n";
	size_t n = strlen(req), off = 0, used;
	const char *names[] = {"PING", "PING", "GET"};
	uint32_t argcs[] = {1, 2, 2};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(parse(&p, req + off, n - off, &used), 1);
		assert_int_equal(p.argc, argcs[i]);
		assert_arg(&p, 0, names[i], strlen(names[i]));
		off += used;
	}
	assert_int_equal(off, n);
	assert_int_equal(parse(&p, req + off, 0, &used), 0);
	resp_parser_free(&p);
}

static void test_inline(void **state)
{
	(void)state;
	struct resp_parser p;
	resp_parser_init(&p, &lim);
	size_t used;
	const char *r = "  set  \"a b\\x41\\n\"  'it\\'s'  plain\r\n";
	assert_int_equal(parse(&p, r, strlen(r), &used), 1);
	assert_true(p.inline_req);
	assert_int_equal(used, strlen(r));
	assert_int_equal(p.argc, 4);
	assert_arg(&p, 0, "set", 3);
	assert_arg(&p, 1, "a bA\n", 5);
	assert_arg(&p, 2, "it's", 4);
	assert_arg(&p, 3, "plain", 5);
	/* LF alone ends a line too; blank lines are skipped */
	const char *b = "\r\n\n  \r\nPING\n";
	assert_int_equal(parse(&p, b, strlen(b), &used), 1);
	assert_int_equal(used, strlen(b));
	assert_int_equal(p.argc, 1);
	/* no end of line yet: incomplete, the blank lines before it consumed */
	assert_int_equal(parse(&p, "\r\nPIN", 5, &used), 0);
	assert_int_equal(used, 2);
	/* unbalanced quotes */
	const char *bad[] = {"GET \"abc\r\n", "GET 'abc\r\n", "GET \"a\"b\r\n"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(parse(&p, bad[i], strlen(bad[i]), &used), -EPROTO);
		assert_string_equal(p.err, "Protocol error: unbalanced quotes in request");
	}
	resp_parser_free(&p);
}

static void test_inline_too_big(void **state)
{
	(void)state;
	struct resp_limits big = {.max_bulk = 1u << 20, .max_args = 8, .max_request = 1u << 21};
	struct resp_parser p;
	resp_parser_init(&p, &big);
	size_t n = RESP_INLINE_MAX + 10, used;
	char *s = malloc(n);
	assert_non_null(s);
	memset(s, 'a', n);
	/* a line exactly at the limit is fine */
	s[RESP_INLINE_MAX] = '\n';
	assert_int_equal(parse(&p, s, RESP_INLINE_MAX + 1, &used), 1);
	/* above it, with or without its end yet */
	s[RESP_INLINE_MAX] = 'a';
	s[RESP_INLINE_MAX + 1] = '\n';
	assert_int_equal(parse(&p, s, RESP_INLINE_MAX + 2, &used), -EPROTO);
	assert_string_equal(p.err, "Protocol error: too big inline request");
	assert_int_equal(parse(&p, s, RESP_INLINE_MAX + 1, &used), -EPROTO);
	assert_int_equal(parse(&p, s, RESP_INLINE_MAX, &used), 0);
	free(s);
	resp_parser_free(&p);
}

static void test_limits_and_bad_lengths(void **state)
{
	(void)state;
	struct resp_parser p;
	resp_parser_init(&p, &lim);
	static const struct {
		const char *in;
		const char *err;
	} cases[] = {
	    {"*x\r\n", "Protocol error: invalid multibulk length"},
	    {"*1x\r\n", "Protocol error: invalid multibulk length"},
	    {"*01\r\n", "Protocol error: invalid multibulk length"},
	    {"*1\n", NULL}, /* an LF without its CR: the header is not over yet */
	    {"*1\rx", "Protocol error: invalid multibulk length"},
	    {"*9\r\n", "Protocol error: too many arguments"},
	    {"*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'"},
	    {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
	    {"*1\r\n$101\r\n", "Protocol error: invalid bulk length"}, /* max_bulk 100 */
	    {"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"},
	    {"*1\r\n$99999999999999999999\r\n", "Protocol error: invalid bulk length"},
	    {"*1\r\n$3\r\nabcXY", "Protocol error: bulk not terminated by CRLF"},
	    {"*5\r\n$100\r\n", NULL}, /* incomplete, not yet too large */
	    {"a b c d e f g h i\r\n", "Protocol error: too many arguments"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t used;
		int rc = parse(&p, cases[i].in, strlen(cases[i].in), &used);
		if (cases[i].err == NULL) {
			assert_int_equal(rc, 0);
			continue;
		}
		if (rc != -EPROTO)
			fail_msg("case %zu (%s): rc %d", i, cases[i].in, rc);
		assert_string_equal(p.err, cases[i].err);
		assert_int_equal(p.argc, 0);
	}
	/* the whole request is bounded by what it declares: 4 bulks of 100 > 400 */
	char big[800];
	size_t off = (size_t)snprintf(big, sizeof big, "*4\r\n");
	for (int k = 0; k < 3; k++) {
		off += (size_t)snprintf(big + off, sizeof big - off, "$100\r\n");
		memset(big + off, 'v', 100);
		off += 100;
		off += (size_t)snprintf(big + off, sizeof big - off, "\r\n");
	}
	off += (size_t)snprintf(big + off, sizeof big - off, "$100\r\n");
	size_t used;
	assert_int_equal(parse(&p, big, off, &used), -EPROTO);
	assert_string_equal(p.err, "Protocol error: request too large");
	/* a header line without its CR for 64 KiB */
	size_t n = RESP_INLINE_MAX + 8;
	char *s = malloc(n);
	assert_non_null(s);
	memset(s, '1', n);
	s[0] = '*';
	assert_int_equal(parse(&p, s, n, &used), -EPROTO);
	assert_string_equal(p.err, "Protocol error: too big mbulk count string");
	memcpy(s, "*1\r\n$", 5);
	assert_int_equal(parse(&p, s, n, &used), -EPROTO);
	assert_string_equal(p.err, "Protocol error: too big bulk count string");
	free(s);
	resp_parser_free(&p);
}

static void test_encoder(void **state)
{
	(void)state;
	struct resp_buf b = {0};
	assert_int_equal(resp_add_simple(&b, "OK"), 0);
	assert_int_equal(resp_add_error(&b, "ERR unknown command '%s'", "a\r\nb"), 0);
	assert_int_equal(resp_add_int(&b, -42), 0);
	assert_int_equal(resp_add_bulk(&b, "x\0y", 3), 0);
	assert_int_equal(resp_add_bulk(&b, "", 0), 0);
	assert_int_equal(resp_add_nil(&b), 0);
	assert_int_equal(resp_add_array(&b, 2), 0);
	assert_int_equal(resp_add_cstr(&b, "ab"), 0);
	assert_int_equal(resp_add_array(&b, -1), 0);
	const char want[] = "+OK\r\n-ERR unknown command 'a  b'\r\n:-42\r\n$3\r\nx\0y\r\n$0\r\n\r\n"
			    "$-1\r\n*2\r\n$2\r\nab\r\n*-1\r\n";
	assert_int_equal(resp_buf_live(&b), sizeof want - 1);
	assert_memory_equal(resp_buf_data(&b), want, sizeof want - 1);
	/* consuming from the front, then growing, keeps the live bytes */
	resp_buf_consume(&b, 5);
	char big[5000];
	memset(big, 'z', sizeof big);
	assert_int_equal(resp_buf_add(&b, big, sizeof big), 0);
	assert_int_equal(resp_buf_live(&b), sizeof want - 1 - 5 + sizeof big);
	assert_memory_equal(resp_buf_data(&b), want + 5, sizeof want - 1 - 5);
	resp_buf_consume(&b, resp_buf_live(&b));
	assert_int_equal(resp_buf_live(&b), 0);
	/* an over-long error is cut, still one line */
	char longtext[1000];
	memset(longtext, 'e', sizeof longtext - 1);
	longtext[sizeof longtext - 1] = 0;
	assert_int_equal(resp_add_error(&b, "ERR %s", longtext), 0);
	size_t n = resp_buf_live(&b);
	const uint8_t *d = resp_buf_data(&b);
	assert_true(n < 520);
	assert_int_equal(d[n - 2], '\r');
	assert_int_equal(d[n - 1], '\n');
	assert_null(memchr(d, '\n', n - 1));
	resp_buf_free(&b);
}

/* What the encoder writes, the parser reads back (a request is an array of bulks). */
static void test_roundtrip(void **state)
{
	(void)state;
	struct resp_buf b = {0};
	uint8_t bytes[256];
	for (int i = 0; i < 256; i++)
		bytes[i] = (uint8_t)i;
	assert_int_equal(resp_add_array(&b, 3), 0);
	assert_int_equal(resp_add_cstr(&b, "SET"), 0);
	assert_int_equal(resp_add_bulk(&b, bytes, 10), 0);
	assert_int_equal(resp_add_bulk(&b, bytes + 100, 90), 0);
	struct resp_parser p;
	resp_parser_init(&p, &lim);
	size_t used;
	assert_int_equal(resp_parse(&p, resp_buf_data(&b), resp_buf_live(&b), &used), 1);
	assert_int_equal(used, resp_buf_live(&b));
	assert_int_equal(p.argc, 3);
	assert_memory_equal(p.argv[1].p, bytes, 10);
	assert_memory_equal(p.argv[2].p, bytes + 100, 90);
	resp_parser_free(&p);
	resp_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_multibulk),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_inline),
	    cmocka_unit_test(test_inline_too_big),
	    cmocka_unit_test(test_limits_and_bad_lengths),
	    cmocka_unit_test(test_encoder),
	    cmocka_unit_test(test_roundtrip),
	};
	return cmocka_run_group_tests_name("resp", tests, NULL, NULL);
}
