/* Offline symbolization of recorded return addresses with elfutils libdwfl. */
#ifndef ST_SYMBOLIZE_H
#define ST_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

struct symres {
	const char *func;               /* NULL when unknown */
	uint64_t func_off;
	const char *file;               /* source file, NULL when no line info */
	int line;
	const char *module;             /* basename of the module, "?" when outside all */
	uint64_t mod_off;               /* address - module load bias */
	int stale;                      /* the module on disk has another build-id */
};

struct symb;
struct symb *symb_new(void);
/* Resolve a return address of the process that wrote `f`. Each unique address is resolved
 * once; the strings live as long as the symb. */
const struct symres *symb_lookup(struct symb *s, const struct st_pinfo *p, uint64_t addr);
/* "func (file:line) [module]", or "module+0xoff" when nothing better is known. */
void symb_format(struct symb *s, const struct st_pinfo *p, uint64_t addr, char *buf, size_t n);
void symb_free(struct symb *s);

#endif
