/* One entry point per subcommand, dispatched from main.c. */
#ifndef ST_CMDS_H
#define ST_CMDS_H

#include <stdint.h>

int command_record(int argc, char **argv);
int command_dump(int argc, char **argv);
int command_info(int argc, char **argv);
int command_sockets(int argc, char **argv);
int command_timeline(int argc, char **argv);
int command_processes(int argc, char **argv);
int command_diagnose(int argc, char **argv);
int command_export(int argc, char **argv);
int command_tail(int argc, char **argv);

#endif
