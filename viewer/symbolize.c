/* One Dwfl per ring file (its own load bases), modules reported from the ring's module map;
 * results cached per (file, address). */
#include "symbolize.h"

#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct proc_dwfl {
	const struct st_file *f;
	Dwfl *dwfl;
	UT_hash_handle hh;
};

struct cache_key {
	const struct st_file *f;
	uint64_t addr;
};

struct cache_ent {
	struct cache_key key;
	struct symres res;
	char *modname, *file;
	UT_hash_handle hh;
};

struct symb {
	struct proc_dwfl *procs;
	struct cache_ent *cache;
};

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

struct symb *symb_new(void)
{
	return calloc(1, sizeof(struct symb));
}

static const struct st_module *module_at(const struct st_file *f, uint32_t i, struct st_module *m)
{
	memcpy(m, f->map + f->hdr.mod_off + (size_t)i * sizeof(*m), sizeof(*m));
	m->path[sizeof(m->path) - 1] = 0;
	return m->valid ? m : NULL;
}

static Dwfl *dwfl_for(struct symb *s, const struct st_file *f)
{
	struct proc_dwfl *p;
	HASH_FIND_PTR(s->procs, &f, p);
	if (p)
		return p->dwfl;
	p = calloc(1, sizeof(*p));
	p->f = f;
	p->dwfl = dwfl_begin(&callbacks);
	if (p->dwfl) {
		dwfl_report_begin(p->dwfl);
		for (uint32_t i = 0; i < f->hdr.nmodules; i++) {
			struct st_module m;
			if (!module_at(f, i, &m) || m.path[0] != '/')
				continue;  /* vdso and friends have no file */
			const char *base = strrchr(m.path, '/') + 1;
			dwfl_report_elf(p->dwfl, base, m.path, -1, m.base, false);
		}
		dwfl_report_end(p->dwfl, NULL, NULL);
	}
	HASH_ADD_PTR(s->procs, f, p);
	return p->dwfl;
}

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

const struct symres *symb_lookup(struct symb *s, const struct st_file *f, uint64_t addr)
{
	struct cache_key key = { f, addr };
	struct cache_ent *e;
	HASH_FIND(hh, s->cache, &key, sizeof(key), e);
	if (e)
		return &e->res;
	e = calloc(1, sizeof(*e));
	e->key = key;
	e->res.module = "?";
	e->res.mod_off = addr;
	/* our own module map says which file and offset, whatever libdwfl makes of it */
	for (uint32_t i = 0; i < f->hdr.nmodules; i++) {
		struct st_module m;
		if (module_at(f, i, &m) && addr >= m.lo && addr < m.hi) {
			e->modname = strdup(basename_of(m.path));
			e->res.module = e->modname;
			e->res.mod_off = addr - m.base;
			break;
		}
	}
	Dwfl *d = dwfl_for(s, f);
	/* a return address points after the call: look up the call itself */
	Dwarf_Addr pc = addr - 1;
	Dwfl_Module *mod = d ? dwfl_addrmodule(d, pc) : NULL;
	if (mod) {
		GElf_Off off;
		GElf_Sym sym;
		const char *name = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
		if (name) {
			char *fn = strdup(name);
			e->res.func = fn;
			e->res.func_off = off + 1;
		}
		Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
		int ln = 0;
		const char *src = line ? dwfl_lineinfo(line, NULL, &ln, NULL, NULL, NULL) : NULL;
		if (src) {
			e->file = strdup(src);
			e->res.file = e->file;
			e->res.line = ln;
		}
		const unsigned char *bits;
		GElf_Addr vaddr;
		int blen = dwfl_module_build_id(mod, &bits, &vaddr);
		for (uint32_t i = 0; blen > 0 && i < f->hdr.nmodules; i++) {
			struct st_module m;
			if (module_at(f, i, &m) && addr >= m.lo && addr < m.hi && m.build_id_len &&
			    (blen != m.build_id_len || memcmp(bits, m.build_id, (size_t)blen)))
				e->res.stale = 1;
		}
	}
	HASH_ADD(hh, s->cache, key, sizeof(key), e);
	return &e->res;
}

void symb_format(struct symb *s, const struct st_file *f, uint64_t addr, char *buf, size_t n)
{
	const struct symres *r = symb_lookup(s, f, addr);
	if (r->func && r->file)
		snprintf(buf, n, "%s (%s:%d) [%s]", r->func, r->file, r->line, r->module);
	else if (r->func)
		snprintf(buf, n, "%s [%s]", r->func, r->module);
	else
		snprintf(buf, n, "%s+%#llx", r->module, (unsigned long long)r->mod_off);
}

void symb_free(struct symb *s)
{
	if (!s)
		return;
	struct cache_ent *e, *et;
	HASH_ITER(hh, s->cache, e, et) {
		HASH_DEL(s->cache, e);
		free((void *)e->res.func);
		free(e->modname);
		free(e->file);
		free(e);
	}
	struct proc_dwfl *p, *pt;
	HASH_ITER(hh, s->procs, p, pt) {
		HASH_DEL(s->procs, p);
		if (p->dwfl)
			dwfl_end(p->dwfl);
		free(p);
	}
	free(s);
}
