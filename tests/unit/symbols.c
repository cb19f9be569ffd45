/* Prints the symbols the call catalogue says libsocktrace.so exports, one per line: every
 * row's name but ST_NO_SYMBOL's, and ST_ALIASES. tests/t_unit.sh compares with nm -D. */
#include <stdio.h>
#include <string.h>

#include "socktrace_calls.h"

#define ROW_NAME(id, name, ...) name,
#define ALIAS_NAME(sym, id) #sym,

int main(void)
{
	static const char *rows[] = { ST_CALLS(ROW_NAME) }, *aliases[] = { ST_ALIASES(ALIAS_NAME) },
	                  *none[] = { ST_NO_SYMBOL };
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		int skip = 0;
		for (size_t k = 0; k < sizeof(none) / sizeof(*none); k++)
			skip |= !strcmp(rows[i], none[k]);
		if (!skip)
			puts(rows[i]);
	}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(*aliases); i++)
		puts(aliases[i]);
	return 0;
}
