/* Fuzz target: the conf parser on arbitrary text (then validation and per-host settings), and the
 * duration parser. Properties: no memory errors or leaks (sanitizers), every failure is an error
 * value with diagnostics, never a crash. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 16))
		return 0; /* the parser's own limits are tested elsewhere; keep inputs quick */
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	struct conf *c = NULL;
	struct conf_diags d = {0};
	int rc = conf_load_string("fuzz.conf", text, &c, &d);
	if (rc != 0 && rc != -EINVAL && rc != -ENOMEM)
		abort();
	if (rc == 0 && c) {
		struct conf_diags d2 = {0};
		(void)conf_validate(c, &d2);
		conf_diags_free(&d2);
		for (size_t i = 0; i < 4; i++) {
			static const char *const aliases[] = {"client0", "replica0", "master0", "x"};
			struct conf_settings s;
			struct conf_diags d3 = {0};
			(void)conf_settings_for(c, aliases[i], &s, &d3);
			conf_diags_free(&d3);
		}
	}
	conf_free(c);
	conf_diags_free(&d);
	uint64_t ms;
	(void)conf_parse_duration_ms(text, &ms);
	free(text);
	return 0;
}
