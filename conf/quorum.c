/* conf quorum: the -quorum file. Only the first quorum's leader line (two tokens) matters to the
 * CURP protocols; members are checked, later quorums ("---") and "3/4" flags are SwiftPaxos'. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_int.h"

int conf_quorum_load(const char *path, const struct conf *c, int *leader_id, struct conf_diags *d)
{
	*leader_id = -1;
	char *text;
	size_t len;
	int rc = conf_read_file(path, &text, &len);
	if (rc == -EFBIG)
		conf_diag_error(d, path, 0, "file larger than %u bytes", CONF_MAX_FILE);
	if (rc != 0)
		return rc;
	char *buf = malloc(CONF_MAX_LINE + 1);
	if (buf == NULL) {
		free(text);
		return -ENOMEM;
	}
	struct conf_lines it;
	conf_lines_init(&it, text, len);
	int leader_line = 0;
	bool too_long;
	while (conf_next_line(&it, buf, &too_long)) {
		int line = it.lineno;
		if (too_long) {
			conf_diag_error(d, path, line, "line longer than %d bytes", CONF_MAX_LINE);
			rc = -EINVAL;
			continue;
		}
		char *tok[3];
		int n = conf_tokenize(buf, tok, 3);
		if (n == 0)
			continue;
		if (n == 1 && strspn(tok[0], "-") >= 3 && tok[0][strspn(tok[0], "-")] == 0)
			break; /* later quorums: SwiftPaxos only */
		if (n == 1 && strchr(tok[0], '/'))
			continue; /* "3/4" flag: SwiftPaxos only */
		if (n > 2) {
			conf_diag_error(
			    d, path, line,
			    "expected '<alias>' or '<marker> <alias>' (the leader), got %d "
			    "tokens",
			    n);
			rc = -EINVAL;
			continue;
		}
		const char *alias = tok[n - 1];
		const struct conf_host *r = conf_find_replica(c, alias);
		if (r == NULL) {
			conf_diag_error(d, path, line, "'%.60s' is not a replica of %s", alias,
					c->path);
			rc = -EINVAL;
			continue;
		}
		if (n == 2) {
			if (leader_line == 0) {
				*leader_id = r->id;
				leader_line = line;
			} else if (r->id != *leader_id) {
				conf_diag_warn(d, path, line,
					       "a second leader line: the one on line %d is used",
					       leader_line);
			}
		}
	}
	free(buf);
	free(text);
	return rc;
}
