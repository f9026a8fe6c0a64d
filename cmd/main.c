/* curpkv: the command-line front end (placeholder until the conf module lands). */
#include <stdio.h>
int main(void) { puts("curpkv"); return 0; }
