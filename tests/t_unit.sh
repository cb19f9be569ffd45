# Unit tests (tests/unit): the viewer's pure parts under ASan/UBSan, and the preload's ring
# writer linked together with the reader and driven directly.

t_unit_viewer() {
	"$TB/unit" | tee out
	# the registry found the tests of every file linked in
	grep -q '^ok   fd_reuse_is_a_new_lifetime' out && grep -q '^ok   every_catalogue_row_decodes' out
}
run_case unit_viewer t_unit_viewer

t_unit_ring() {
	mkdir d
	SOCKTRACE_DIR=$W/d SOCKTRACE_SIZE=1M SOCKTRACE_STACK_DEPTH=0 "$TB/unit_ring" | tee out
	[ "$(grep -c '^ok ' out)" -ge 4 ]
}
run_case unit_ring t_unit_ring

# The library exports exactly the catalogue's interposed calls: a wrapper added without its
# row (or a row whose wrapper went missing) fails here.
t_unit_exports_are_the_catalogue() {
	"$TB/symbols" | sort > want
	nm -D --defined-only "$LIB" | awk '{print $3}' | sort > have
	[ "$(wc -l < want)" -gt 60 ]
	diff want have
}
run_case exports_are_the_catalogue t_unit_exports_are_the_catalogue

# The preload's modules call only the layers below them (the order is in tests/layers.py and
# st_preload.h): objects compiled without LTO, edges read from their symbols with nm.
t_unit_preload_layers() {
	mkdir o
	for f in "$ROOT"/preload/*.c; do
		cc -I"$ROOT/include" -D_GNU_SOURCE -O2 -fPIC -fvisibility=hidden -ftls-model=initial-exec \
			-c "$f" -o "o/$(basename "$f" .c).o" || return 1
	done
	python3 "$ROOT/tests/layers.py" o
}
run_case preload_layers t_unit_preload_layers
