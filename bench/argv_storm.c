/*
 * Exec storm with a chosen argv: COUNT times fork, execve PROGRAM with the
 * arguments read from ARGFILE (one per line), waitpid. With a 4 KiB file of
 * secret-looking, hostile arguments it is the redaction benchmark's load
 * (bench/redaction.ts); with a short file, its baseline.
 *
 * Usage: argv_storm COUNT PROGRAM ARGFILE [vary-all]
 * With `vary-all`, every argument of 16 bytes or more ends with the exec's
 * number (its last 8 bytes, in hex): no argv and no word repeats from one exec
 * to the next, as a hostile user would make them (nothing the agent kept of one
 * exec's argv or words serves the next: decode/argv-memo.ts,
 * commands/recent-argv.ts).
 * Prints one JSON line: {"execs":N,"seconds":S,"per_second":R,"failures":F,"arg_bytes":B}
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 256

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int vary_all = argc == 5 && strcmp(argv[4], "vary-all") == 0;
	if ((argc != 4 && !vary_all) || atol(argv[1]) <= 0) {
		fprintf(stderr, "usage: %s COUNT PROGRAM ARGFILE [vary-all]\n", argv[0]);
		return 2;
	}
	long count = atol(argv[1]);
	FILE *f = fopen(argv[3], "r");
	if (!f) {
		perror("argv_storm: ARGFILE");
		return 2;
	}
	static char *child_argv[MAX_ARGS + 2];
	/* Where each argument's last 8 bytes start (vary-all), 0 for those shorter than 16. */
	static size_t vary_at[MAX_ARGS + 2];
	int n = 0;
	size_t bytes = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	child_argv[n++] = argv[2];
	while (n <= MAX_ARGS && (len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		vary_at[n] = len >= 16 ? (size_t)len - 8 : 0;
		child_argv[n++] = strdup(line);
		bytes += (size_t)len + 1;
	}
	fclose(f);
	child_argv[n] = NULL;
	char *const child_env[] = { NULL };

	unsigned long failures = 0;
	double start = now_seconds();
	for (long i = 0; i < count; i++) {
		if (vary_all) {
			char digits[9];
			snprintf(digits, sizeof(digits), "%08lx", (unsigned long)i & 0xffffffffUL);
			for (int k = 1; k < n; k++)
				if (vary_at[k] > 0)
					memcpy(child_argv[k] + vary_at[k], digits, 8);
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("argv_storm: fork");
			return 1;
		}
		if (pid == 0) {
			execve(argv[2], child_argv, child_env);
			_exit(127);
		}
		int status;
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failures++;
	}
	double elapsed = now_seconds() - start;
	printf("{\"execs\":%ld,\"seconds\":%.3f,\"per_second\":%.1f,\"failures\":%lu,\"arg_bytes\":%zu}\n",
	       count, elapsed, (double)count / elapsed, failures, bytes);
	return failures == 0 ? 0 : 1;
}
