# Unit tests of the viewer's pure parts (C programs under ASan/UBSan).

t_unit_lifecycle() {
	"$TB/test_lifecycle"
}
run_case unit_lifecycle_rules t_unit_lifecycle
