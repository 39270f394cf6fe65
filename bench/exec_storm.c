/*
 * Exec storm: starts COUNT short processes one after another (fork, exec
 * /bin/true, wait), the pattern of a shell script or a build that runs many
 * small tools. Each iteration is one fork, one exec and one exit for the agent.
 *
 * Usage: exec_storm COUNT [PROGRAM]
 * Prints one JSON line on stdout:
 *   {"execs":10000,"seconds":4.210,"per_second":2375.3,"failures":0}
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long count = argc >= 2 ? atol(argv[1]) : 0;
	if (argc < 2 || argc > 3 || count <= 0) {
		fprintf(stderr, "usage: %s COUNT [PROGRAM] (COUNT > 0; PROGRAM defaults to /bin/true)\n", argv[0]);
		return 2;
	}
	const char *program = argc == 3 ? argv[2] : "/bin/true";
	char *const child_argv[] = { (char *)program, NULL };
	char *const child_env[] = { NULL };

	unsigned long failures = 0;
	double start = now_seconds();
	for (long i = 0; i < count; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("exec_storm: fork");
			return 1;
		}
		if (pid == 0) {
			execve(program, child_argv, child_env);
			_exit(127);
		}
		int status;
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failures++;
	}
	double elapsed = now_seconds() - start;
	printf("{\"execs\":%ld,\"seconds\":%.3f,\"per_second\":%.1f,\"failures\":%lu}\n",
	       count, elapsed, (double)count / elapsed, failures);
	return failures == 0 ? 0 : 1;
}
