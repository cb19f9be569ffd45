/* Offline symbolization with elfutils libdwfl. One Dwfl per module file (by path and
 * build-id), reported at address 0, shared by every process that loaded it: a fork-per-client
 * server's hundred children parse libc once. Results are cached per (module, offset). */
#include "symbolize.h"
#include "xalloc.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct mod_dwfl {
	char key[ST_PATH_MAX + 48];     /* path + build-id */
	Dwfl *dwfl;                     /* NULL when the file cannot be read */
	char *name;                     /* basename */
	UT_hash_handle hh;
};

struct cache_key {
	const struct mod_dwfl *m;       /* NULL: outside every module */
	uint64_t off;                   /* address - load bias (the address itself if no module) */
};

struct cache_ent {
	struct cache_key key;
	struct symres res;
	char *func, *file;
	UT_hash_handle hh;
};

struct symb {
	struct mod_dwfl *mods;
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
	return st_xcalloc(1, sizeof(struct symb));
}

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static struct mod_dwfl *mod_get(struct symb *s, const struct st_module *m)
{
	char key[sizeof(((struct mod_dwfl *)0)->key)];
	int n = snprintf(key, sizeof(key), "%s#", m->path);
	for (unsigned i = 0; i < m->build_id_len && i < 20 && n + 3 < (int)sizeof(key); i++)
		n += snprintf(key + n, sizeof(key) - (size_t)n, "%02x", m->build_id[i]);
	struct mod_dwfl *md;
	HASH_FIND_STR(s->mods, key, md);
	if (md)
		return md;
	md = st_xcalloc(1, sizeof(*md));
	snprintf(md->key, sizeof(md->key), "%s", key);
	md->name = st_xstrdup(basename_of(m->path));
	if (md->name)
		st_sanitize(md->name);
	/* the path comes from the trace: open it ourselves, without blocking, and only read a
	 * regular file (a FIFO or a device named there must not hang or flood us) */
	int fd = m->path[0] == '/' ? open(m->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
	struct stat sb;
	if (fd >= 0 && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0 && (md->dwfl = dwfl_begin(&callbacks))) {
		dwfl_report_begin(md->dwfl);
		if (!dwfl_report_elf(md->dwfl, md->name, m->path, fd, 0, false)) {
			close(fd);      /* consumed only on success */
			dwfl_end(md->dwfl);
			md->dwfl = NULL;
		} else {
			dwfl_report_end(md->dwfl, NULL, NULL);
		}
	} else if (fd >= 0) {
		close(fd);
	}
	HASH_ADD_STR(s->mods, key, md);
	return md;
}

const struct symres *symb_lookup(struct symb *s, const struct st_pinfo *p, uint64_t addr)
{
	const struct st_module *m = NULL;
	int in = p && st_module_of(p, addr, &m);
	struct mod_dwfl *md = in ? mod_get(s, m) : NULL;
	/* a non-PIE executable is loaded at its link address: bias 0, offsets are addresses */
	struct cache_key key = { md, in ? addr - m->base : addr };
	struct cache_ent *e;
	HASH_FIND(hh, s->cache, &key, sizeof(key), e);
	if (e)
		return &e->res;
	e = st_xcalloc(1, sizeof(*e));
	e->key = key;
	e->res.module = md ? md->name : "?";
	e->res.mod_off = key.off;
	Dwfl_Module *mod = md && md->dwfl ? dwfl_addrmodule(md->dwfl, key.off - 1) : NULL;
	if (mod) {
		/* a return address points after the call: look up the call itself */
		Dwarf_Addr pc = key.off - 1;
		GElf_Off off;
		GElf_Sym sym;
		const char *name = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
		if (name) {
			e->func = st_xstrdup(name);
			if (e->func)
				st_sanitize(e->func);
			e->res.func = e->func;
			e->res.func_off = off + 1;
		}
		/* the call may sit in a function the compiler inlined: name that one, since the
		 * file:line below is its line */
		Dwarf_Addr bias;
		Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias);
		Dwarf_Die *scopes = NULL;
		int ns = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
		for (int i = 0; i < ns; i++) {
			int tag = dwarf_tag(&scopes[i]);
			if (tag == DW_TAG_subprogram)
				break;
			if (tag == DW_TAG_inlined_subroutine) {
				Dwarf_Attribute a;
				const char *inl = dwarf_formstring(dwarf_attr_integrate(&scopes[i], DW_AT_name, &a));
				if (inl && e->func) {
					size_t l = strlen(inl) + strlen(e->func) + 16;
					char *both = st_xmalloc(l);
					snprintf(both, l, "%s (inlined in %s)", inl, e->func);
					st_sanitize(both);
					free(e->func);
					e->func = both;
					e->res.func = both;
					e->res.func_off = 0;
				}
				break;
			}
		}
		free(scopes);
		Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
		int ln = 0;
		const char *src = line ? dwfl_lineinfo(line, NULL, &ln, NULL, NULL, NULL) : NULL;
		if (src) {
			e->file = st_xstrdup(src);
			if (e->file)
				st_sanitize(e->file);
			e->res.file = e->file;
			e->res.line = ln;
		}
		const unsigned char *bits;
		GElf_Addr vaddr;
		int blen = dwfl_module_build_id(mod, &bits, &vaddr);
		if (blen > 0 && m->build_id_len && (blen != m->build_id_len || memcmp(bits, m->build_id, (size_t)blen)))
			e->res.stale = 1;
	}
	HASH_ADD(hh, s->cache, key, sizeof(key), e);
	return &e->res;
}

void symb_format(struct symb *s, const struct st_pinfo *f, uint64_t addr, char *buf, size_t n)
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
		free(e->func);
		free(e->file);
		free(e);
	}
	struct mod_dwfl *md, *mt;
	HASH_ITER(hh, s->mods, md, mt) {
		HASH_DEL(s->mods, md);
		if (md->dwfl)
			dwfl_end(md->dwfl);
		free(md->name);
		free(md);
	}
	free(s);
}
