/*
 * Exec storm: starts COUNT short processes one after another (fork, exec
 * /bin/true, wait), the pattern of a shell script or a build that runs many
 * small tools. Each iteration is one fork, one exec and one exit for the agent.
 *
 * Usage: exec_storm COUNT [PROGRAM [ARGV_BYTES [vary]]]
 * ARGV_BYTES > 0 gives every process about that many bytes of arguments,
 * shaped like the command lines redaction works on (flags with secrets,
 * headers, KEY=value words), split into 64 arguments. With `vary`, the
 * first argument's secret ends with the process's number, so no two
 * processes have the same argv (the agent's memo of repeated argv never
 * serves; its reuse of a program's unchanged words does).
 * Prints one JSON line on stdout:
 *   {"execs":10000,"seconds":4.210,"per_second":2375.3,"failures":0}
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	long argv_bytes = argc >= 4 ? atol(argv[3]) : 0;
	int vary = argc >= 5 && strcmp(argv[4], "vary") == 0;
	if (argc < 2 || argc > 5 || count <= 0 || argv_bytes < 0 || (argc == 5 && (!vary || argv_bytes < 8 * 64))) {
		fprintf(stderr, "usage: %s COUNT [PROGRAM [ARGV_BYTES [vary]]] (COUNT > 0; PROGRAM defaults to /bin/true; vary needs ARGV_BYTES >= 512)\n", argv[0]);
		return 2;
	}
	const char *program = argc >= 3 ? argv[2] : "/bin/true";
	enum { NARGS = 64 };
	static const char *shapes[] = { "--password=", "-H", "Authorization: Bearer ", "DB_PASSWORD=", "--token=", "user:", "--from-literal=api_key=", "-Djavax.net.ssl.keyStorePassword=" };
	char *child_argv[NARGS + 2] = { (char *)program, NULL };
	if (argv_bytes > 0) {
		size_t each = (size_t)argv_bytes / NARGS;
		for (int i = 0; i < NARGS; i++) {
			const char *shape = shapes[i % (sizeof(shapes) / sizeof(shapes[0]))];
			size_t len = strlen(shape);
			char *arg = malloc(len + each + 1);
			if (!arg) {
				perror("exec_storm: malloc");
				return 1;
			}
			memcpy(arg, shape, len);
			for (size_t j = 0; j < each; j++)
				arg[len + j] = "s3cr3tQz"[j % 8];
			arg[len + each] = '\0';
			child_argv[i + 1] = arg;
		}
		child_argv[NARGS + 1] = NULL;
	}
	char *const child_env[] = { NULL };

	unsigned long failures = 0;
	double start = now_seconds();
	for (long i = 0; i < count; i++) {
		if (vary) {
			/* The last 8 characters of the first argument's secret: the process's number in hex. */
			char *first = child_argv[1];
			char digits[9];
			snprintf(digits, sizeof(digits), "%08x", (unsigned)(i & 0xffffffff));
			memcpy(first + strlen(first) - 8, digits, 8);
		}
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
