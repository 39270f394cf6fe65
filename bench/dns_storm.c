/*
 * Lookup storm: one thread calls getaddrinfo() on one name (put it in
 * /etc/hosts: no network, the C library's own work only) and frees the
 * answer, as fast as it can, for a fixed time. Every call is one lookup the
 * dns probe turns into one event.
 *
 * Usage: dns_storm NAME SECONDS
 * Prints one JSON line on stdout:
 *   {"lookups":412345,"seconds":5.000,"per_second":82469.0,"errors":0}
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3 || atof(argv[2]) <= 0) {
		fprintf(stderr, "usage: %s NAME SECONDS (a name from /etc/hosts; how long to storm, > 0)\n", argv[0]);
		return 2;
	}
	const char *name = argv[1];
	double duration = atof(argv[2]);
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;

	unsigned long lookups = 0, errors = 0;
	double start = now_seconds(), end = start + duration, t = start;
	while (t < end) {
		for (int i = 0; i < 100; i++) {
			struct addrinfo *res = NULL;
			int rc = getaddrinfo(name, NULL, &hints, &res);
			if (rc != 0) {
				if (errors++ == 0)
					fprintf(stderr, "dns_storm: getaddrinfo(%s): %s\n", name, gai_strerror(rc));
			} else {
				freeaddrinfo(res);
			}
			lookups++;
		}
		t = now_seconds();
	}
	double seconds = t - start;
	printf("{\"lookups\":%lu,\"seconds\":%.3f,\"per_second\":%.1f,\"errors\":%lu}\n", lookups, seconds, lookups / seconds, errors);
	return errors ? 1 : 0;
}
