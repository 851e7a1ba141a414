/*
 * sock.h: stream socket endpoints written as one string.
 *
 * A spec is `tcp:HOST:PORT`, `HOST:PORT`, `unix:PATH` or an absolute
 * PATH (unix). HOST is a numeric IPv4 address, `[IPv6]` or `localhost`
 * (127.0.0.1); nothing is looked up in DNS. Every fd returned is
 * nonblocking and close-on-exec.
 */
#ifndef TASKBOX_SOCK_H
#define TASKBOX_SOCK_H

#include <sys/socket.h>

struct sock_spec {
	int family; /* AF_INET, AF_INET6 or AF_UNIX */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *path; /* AF_UNIX: points into addr */
	int port;	  /* AF_INET, AF_INET6 */
};

/* Parse spec into out; port 0 only when passive (a listener); 0 or -EINVAL. */
int sock_spec_parse(const char *spec, bool passive, struct sock_spec *out,
		    char **cause);
/* Listen on spec (unix: a stale socket file is replaced, mode 0600). */
int sock_listen_spec(const char *spec, char **cause);
/* Connect to spec; the connect may still be in progress (EINPROGRESS). */
int sock_connect_spec(const char *spec, char **cause);
/* The local address of a socket as a spec (`127.0.0.1:80`, `unix:/p`). */
char *sock_local_name(int fd);

#endif
