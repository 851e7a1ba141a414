/*
 * netpolicy.h: which network addresses something a member configured may
 * reach from the server.
 *
 * Egress allowlists, webhook URLs (and later provider URLs) are written by
 * members; the server connects on their behalf. None of them may lead to
 * this machine (loopback, any address of its own interfaces, so the
 * server's listen address too), link-local (cloud metadata), unspecified,
 * multicast, broadcast or reserved space. Private ranges (10/8,
 * 172.16/12, 192.168/16, 100.64/10, fc00::/7) only where an admin allowed
 * them. Checks run on every resolved address, right before connecting.
 */
#ifndef TASKBOX_NETPOLICY_H
#define TASKBOX_NETPOLICY_H

#include <sys/socket.h>

enum net_class {
	NET_PUBLIC,
	NET_PRIVATE,   /* reachable only where an admin allowed it */
	NET_FORBIDDEN, /* never: loopback, link-local, special ranges */
};

/* The class of an IPv4 or IPv6 socket address (mapped v4 looked through);
 * anything else is NET_FORBIDDEN. Pure. */
enum net_class net_classify(const struct sockaddr *sa);

/*
 * Parse a numeric host (dotted IPv4 in any form inet_aton takes, such as
 * "127.1" or "0x7f000001", or IPv6, with or without [brackets]) into
 * *out (port 0). 0, or -EINVAL when host is not a numeric address.
 */
int net_literal(const char *host, struct sockaddr_storage *out);

/* Whether host is a name that always means this machine ("localhost",
 * "*.localhost", "ip6-localhost", ...). Case-insensitive. */
bool net_name_local(const char *host);

/*
 * Whether the server may connect to sa for a member: NULL if so, else a
 * static reason ("a loopback address", ...). private_ok allows the
 * private ranges. Addresses of this machine's own interfaces are refused
 * too (looked up with getifaddrs; fails closed).
 */
const char *net_check(const struct sockaddr *sa, bool private_ok);

/*
 * The same check for a host as written in a configuration (no DNS): a
 * numeric host is classified, a local name refused; any other name passes
 * (it is checked again after resolution when used). *is_private is set
 * when the host is a private literal, which only an admin may write.
 */
const char *net_check_host(const char *host, bool *is_private);

/*
 * The host of an http(s) URL (no userinfo, no port, IPv6 without its
 * brackets) into host (size n). 0, or -EINVAL when there is none or it
 * does not fit.
 */
int net_url_host(const char *url, char *host, size_t n);

/*
 * Why a URL a member wrote (a webhook) is refused, or NULL: http(s) only,
 * no spaces, control characters or backslashes (where URL parsers
 * disagree), then net_check_host on its host. Checked again, on every
 * address, when it is used.
 */
const char *net_check_url(const char *url, bool *is_private);

#endif
