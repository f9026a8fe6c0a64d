/* conf quorum: the -quorum file; only its leader line (two tokens) is used. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf_int.h"

int conf_quorum_load(const char *path, const struct conf *c, int *leader_id, struct conf_diags *d)
{
	*leader_id = -1;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	char line[CONF_MAX_LINE + 2];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *tok[3];
		int n = 0;
		for (char *t = strtok(line, " \t\r\n"); t && n < 3; t = strtok(NULL, " \t\r\n")) {
			if (t[0] == '#' || (t[0] == '/' && t[1] == '/'))
				break;
			tok[n++] = t;
		}
		if (n == 0)
			continue;
		if (!strcmp(tok[0], "---"))
			break; /* later quorums are SwiftPaxos-only */
		if (n == 1 && strchr(tok[0], '/'))
			continue; /* "3/4" flags: SwiftPaxos-only */
		const char *alias = n >= 2 ? tok[1] : tok[0];
		const struct conf_host *r = conf_find_replica(c, alias);
		if (r == NULL) {
			conf_diag_add(d, true, path, lineno, "'%s' is not a replica of %s", alias,
				      c->path);
			rc = -EINVAL;
			continue;
		}
		if (n >= 2) {
			if (*leader_id >= 0 && *leader_id != r->id)
				conf_diag_add(d, false, path, lineno,
					      "a second leader line; the first one is used");
			else
				*leader_id = r->id;
		}
	}
	fclose(f);
	return rc;
}
