/* commands.h — the subcommands of bin/moeprobe (the contract: docs/interface.md and
 * README.md). Each takes argv with argv[0] = the subcommand name, prints its own --help, and
 * returns the process exit status: 0 success, 1 failure after a message on stderr, 2 usage. */
#ifndef MOEPROBE_CLI_COMMANDS_H
#define MOEPROBE_CLI_COMMANDS_H

int cmd_tokenize(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_make_model(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_verify(int argc, char **argv);

#endif
