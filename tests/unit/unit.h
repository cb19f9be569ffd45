/* A small test registry: TEST(name) { ... CHECK(cond, fmt, ...) ... }; unit_main runs them all. */
#ifndef ST_UNIT_H
#define ST_UNIT_H

#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
	struct unit_test *next;
};

extern struct unit_test *unit_tests;
extern int unit_failures, unit_checks;

#define TEST(name)                                                                   \
	static void test_##name(void);                                                   \
	static struct unit_test reg_##name = { #name, test_##name, NULL };               \
	__attribute__((constructor)) static void register_##name(void)                   \
	{                                                                                \
		reg_##name.next = unit_tests;                                                \
		unit_tests = &reg_##name;                                                    \
	}                                                                                \
	static void test_##name(void)

#define CHECK(cond, ...)                                                             \
	do {                                                                             \
		unit_checks++;                                                               \
		if (!(cond)) {                                                               \
			unit_failures++;                                                         \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                              \
			printf(__VA_ARGS__);                                                     \
			printf("\n");                                                            \
		}                                                                            \
	} while (0)

/* Run every registered test (those whose name contains argv[1], if given); 0 if all passed. */
int unit_main(int argc, char **argv);

#endif
