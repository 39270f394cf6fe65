/*
 * Connect storm: one thread connects to a loopback listener, accepts, and
 * closes both ends, as fast as it can, for a fixed time. Every iteration is
 * one active open (CLOSE->SYN_SENT->ESTABLISHED) that the agent turns into one
 * event, so "connects" is also the number of events the agent should see.
 *
 * Usage: connect_storm SECONDS
 * Prints one JSON line on stdout:
 *   {"connects":151234,"seconds":5.000,"per_second":30246.8,"errors":0}
 *
 * The client closes with SO_LINGER 0 (RST): no TIME_WAIT is left behind, so
 * a long storm cannot run out of ephemeral ports and later rounds see the
 * same kernel state as earlier ones.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
	if (argc != 2 || atof(argv[1]) <= 0) {
		fprintf(stderr, "usage: %s SECONDS (how long to storm, > 0)\n", argv[0]);
		return 2;
	}
	double duration = atof(argv[1]);

	int listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0) {
		perror("connect_storm: socket");
		return 1;
	}
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t addr_len = sizeof(addr);
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listener, 128) < 0 ||
	    getsockname(listener, (struct sockaddr *)&addr, &addr_len) < 0) {
		perror("connect_storm: listen on 127.0.0.1");
		return 1;
	}

	struct linger abort_on_close = { .l_onoff = 1, .l_linger = 0 };
	unsigned long connects = 0, errors = 0;
	double start = now_seconds(), elapsed = 0;
	for (;;) {
		/* Checking the clock every 64 connects keeps its cost out of the loop. */
		if ((connects + errors) % 64 == 0) {
			elapsed = now_seconds() - start;
			if (elapsed >= duration)
				break;
		}
		int client = socket(AF_INET, SOCK_STREAM, 0);
		if (client < 0) {
			errors++;
			continue;
		}
		if (connect(client, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			if (errors++ == 0)
				fprintf(stderr, "connect_storm: connect: %s\n", strerror(errno));
			close(client);
			continue;
		}
		int server = accept(listener, NULL, NULL);
		setsockopt(client, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
		close(client);
		if (server >= 0)
			close(server);
		connects++;
	}
	printf("{\"connects\":%lu,\"seconds\":%.3f,\"per_second\":%.1f,\"errors\":%lu}\n",
	       connects, elapsed, (double)connects / elapsed, errors);
	return 0;
}
