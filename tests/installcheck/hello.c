/* A program built only against the installed curpkv: `#include <curpkv.h>` and
 * `pkg-config --cflags --libs curpkv`. Usage: hello CONF. Writes, reads back and deletes a key;
 * exits 0 if the cluster answered as expected. */
#include <curpkv.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CONF\n", argv[0]);
		return 2;
	}
	curpkv_client *c = NULL;
	int rc = curpkv_open(argv[1], "client0", &c);
	if (rc != 0) {
		fprintf(stderr, "hello: curpkv_open: %s\n", strerror(-rc));
		return 1;
	}
	char buf[64];
	size_t n = 0;
	int ok = curpkv_put(c, "hello", 5, "world", 5) == 0 &&
		 curpkv_get(c, "hello", 5, buf, sizeof buf, &n) == 0 && n == 5 &&
		 memcmp(buf, "world", 5) == 0 && curpkv_del(c, "hello", 5) == 0 &&
		 curpkv_get(c, "hello", 5, buf, sizeof buf, &n) == -ENOENT;
	curpkv_close(c);
	printf("hello: curpkv %s: put/get/del %s\n", curpkv_version(), ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}
