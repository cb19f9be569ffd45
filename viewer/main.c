/* socktrace: the viewer's entry point; one subcommand per file, dispatched from a table. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
	{ "record", command_record, "run a command with its socket calls recorded" },
	{ "dump", command_dump, "print every recorded call in time order (text or --json)" },
	{ "sockets", command_sockets, "one line per socket lifetime (tcplife-like), --json too" },
	{ "timeline", command_timeline, "each socket's calls in order, with state changes (--stack)" },
	{ "diagnose", command_diagnose, "explain broken pipes, resets, refusals, hangs and leaks" },
	{ "export", command_export, "Perfetto/Chrome JSON, JSON lines or pcapng for Wireshark" },
	{ "tail", command_tail, "follow running processes' rings and print calls as they happen" },
	{ "processes", command_processes, "the traced processes as a fork tree" },
	{ "info", command_info, "show a ring's process, modules and still-open sockets" },
};

static void usage(FILE *out)
{
	fputs("usage: socktrace COMMAND [OPTIONS] [ARGS]\n\ncommands:\n", out);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
	fputs("\n'socktrace COMMAND --help' describes each one.\n", out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "socktrace: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
