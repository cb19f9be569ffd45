/* The registry's runner: every TEST in the binary, in registration order, counted. */
#include "unit.h"

struct unit_test *unit_tests;
int unit_failures, unit_checks;

int unit_main(int argc, char **argv)
{
	struct unit_test *order[512];
	int n = 0;
	for (struct unit_test *t = unit_tests; t && n < 512; t = t->next)
		order[n++] = t;
	int ran = 0;
	for (int i = n - 1; i >= 0; i--) {
		if (argc > 1 && !strstr(order[i]->name, argv[1]))
			continue;
		int before = unit_failures;
		order[i]->fn();
		ran++;
		printf("%s %s\n", unit_failures == before ? "ok  " : "FAIL", order[i]->name);
	}
	printf("%d tests, %d checks, %d failed\n", ran, unit_checks, unit_failures);
	if (!ran)
		printf("no test ran\n");
	return unit_failures || !ran ? 1 : 0;
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
