/*
 * netpolicy.c: the address policy for connections the server makes on a
 * member's behalf (egress CONNECTs, webhooks).
 *
 * Classification is pure and works on the raw address bytes: IPv6 forms
 * that embed an IPv4 address (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96,
 * 6to4 2002::/16) are classified by the embedded address, so no spelling
 * of 127.0.0.1 gets through. The one impure part is the list of this
 * machine's own addresses (getifaddrs), read at each check: interfaces
 * come and go, and a check that cannot read them refuses.
 */
#include "common.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include "netpolicy.h"
#include "text.h"

/* The class of an IPv4 address in host byte order. */
static enum net_class
net_classify4(uint32_t a)
{
	if ((a >> 24) == 0 || (a >> 24) == 127 || /* this net, loopback */
	    (a >> 16) == 0xa9fe ||		  /* 169.254/16 link-local */
	    (a >> 8) == 0xc00000 ||		  /* 192.0.0/24 IETF */
	    (a >> 8) == 0xc00002 ||		  /* 192.0.2/24 TEST-NET-1 */
	    (a >> 8) == 0xc05863 ||		  /* 192.88.99/24 6to4 relay */
	    (a >> 17) == 0x6309 ||		  /* 198.18/15 benchmarking */
	    (a >> 8) == 0xc63364 ||		  /* 198.51.100/24 TEST-NET-2 */
	    (a >> 8) == 0xcb0071 ||		  /* 203.0.113/24 TEST-NET-3 */
	    (a >> 28) >= 0xe)			  /* multicast, reserved */
		return NET_FORBIDDEN;
	if ((a >> 24) == 10 || (a >> 20) == 0xac1 || /* 172.16/12 */
	    (a >> 16) == 0xc0a8 ||		     /* 192.168/16 */
	    (a >> 22) == 0x191)			     /* 100.64/10 CGNAT */
		return NET_PRIVATE;
	return NET_PUBLIC;
}

/* The IPv4 address embedded in b[off..off+3], host order. */
static uint32_t
net_embedded4(const uint8_t *b, size_t off)
{
	return (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 |
	       (uint32_t)b[off + 2] << 8 | b[off + 3];
}

/* The class of an IPv6 address. */
static enum net_class
net_classify6(const struct in6_addr *a)
{
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	static const uint8_t siit[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t nat64_local[6] = {0x00, 0x64, 0xff, 0x9b, 0, 1};
	static const uint8_t doc[4] = {0x20, 0x01, 0x0d, 0xb8};
	static const uint8_t teredo[4] = {0x20, 0x01, 0, 0};
	static const uint8_t discard[8] = {0x01, 0x00};
	const uint8_t *b = a->s6_addr;
	bool zero96 = true;

	for (size_t i = 0; i < 12; i++)
		zero96 = zero96 && b[i] == 0;
	if (zero96) /* ::, ::1 and the deprecated ::a.b.c.d */
		return NET_FORBIDDEN;
	if (IN6_IS_ADDR_V4MAPPED(a) || memcmp(b, nat64, 12) == 0 ||
	    memcmp(b, siit, 12) == 0) /* ::ffff:0:a.b.c.d */
		return net_classify4(net_embedded4(b, 12));
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
		return net_classify4(net_embedded4(b, 2));
	if (b[0] == 0xff ||			       /* multicast */
	    (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 */
	    memcmp(b, nat64_local, 6) == 0 ||	       /* 64:ff9b:1::/48 */
	    memcmp(b, doc, 4) == 0 ||		       /* 2001:db8::/32 */
	    memcmp(b, teredo, 4) == 0 ||	       /* 2001::/32 */
	    memcmp(b, discard, 8) == 0)		       /* 100::/64 */
		return NET_FORBIDDEN;
	if ((b[0] & 0xfe) == 0xfc ||		     /* fc00::/7 unique local */
	    (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)) /* fec0::/10 */
		return NET_PRIVATE;
	return NET_PUBLIC;
}

enum net_class
net_classify(const struct sockaddr *sa)
{
	if (sa == NULL)
		return NET_FORBIDDEN;
	if (sa->sa_family == AF_INET)
		return net_classify4(ntohl(
			((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return net_classify6(
			&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return NET_FORBIDDEN;
}

int
net_literal(const char *host, struct sockaddr_storage *out)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);
	struct in_addr a4;

	memset(out, 0, sizeof *out);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof buf)
		return -EINVAL;
	memcpy(buf, host, n);
	buf[n] = '\0';
	if (strchr(buf, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		return 0;
	}
	/* inet_aton takes "127.1", "0x7f000001", "0177.0.0.1" as the resolver
	 * does; it also stops at whitespace, which no host name holds */
	if (buf[strcspn(buf, " \t\r\n\v\f")] != '\0' ||
	    inet_aton(buf, &a4) == 0)
		return -EINVAL;
	((struct sockaddr_in *)out)->sin_family = AF_INET;
	((struct sockaddr_in *)out)->sin_addr = a4;
	return 0;
}

bool
net_name_local(const char *host)
{
	static const char *const names[] = {
		"localhost",	"localhost.localdomain",
		"localhost6",	"ip6-localhost",
		"ip6-loopback", "localhost6.localdomain6",
	};
	size_t n = strlen(host);

	if (n > 0 && host[n - 1] == '.') /* the absolute form */
		n--;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == n &&
		    strncasecmp(host, names[i], n) == 0)
			return true;
	/* RFC 6761: every name under .localhost is loopback */
	return (n == 9 || (n > 10 && host[n - 10] == '.')) &&
	       strncasecmp(host + n - 9, "localhost", 9) == 0;
}

/* Whether two addresses are the same host (IPv4-mapped IPv6 is IPv4). */
static bool
net_same(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t x[16], y[16];
	size_t xl, yl;

	for (int i = 0; i < 2; i++) {
		const struct sockaddr *s = i == 0 ? a : b;
		uint8_t *o = i == 0 ? x : y;
		size_t *l = i == 0 ? &xl : &yl;

		if (s->sa_family == AF_INET) {
			memcpy(o, &((const struct sockaddr_in *)s)->sin_addr,
			       4);
			*l = 4;
		} else if (s->sa_family == AF_INET6) {
			const struct in6_addr *v6 =
				&((const struct sockaddr_in6 *)s)->sin6_addr;

			if (IN6_IS_ADDR_V4MAPPED(v6)) {
				memcpy(o, v6->s6_addr + 12, 4);
				*l = 4;
			} else {
				memcpy(o, v6->s6_addr, 16);
				*l = 16;
			}
		} else {
			return false;
		}
	}
	return xl == yl && memcmp(x, y, xl) == 0;
}

/* This machine's addresses, read at most once a second (a netlink dump
 * per CONNECT adds up); NULL when they cannot be read. */
static struct ifaddrs *
net_own_addresses(void)
{
	static struct ifaddrs *cached;
	static uint64_t read_at;
	uint64_t now = now_ms();

	if (cached == NULL || now - read_at >= 1000) {
		struct ifaddrs *fresh;

		if (getifaddrs(&fresh) < 0)
			return NULL;
		if (cached != NULL)
			freeifaddrs(cached);
		cached = fresh;
		read_at = now;
	}
	return cached;
}

/* Is sa one of this machine's addresses? 1, 0, or -1 when unknown. */
static int
net_is_own(const struct sockaddr *sa)
{
	struct ifaddrs *ifs = net_own_addresses(), *i;

	if (ifs == NULL)
		return -1;
	for (i = ifs; i != NULL; i = i->ifa_next)
		if (i->ifa_addr != NULL && net_same(sa, i->ifa_addr))
			return 1;
	return 0;
}

/* Why sa is refused as one of this machine's addresses, or NULL. */
static const char *
net_own_reason(const struct sockaddr *sa)
{
	switch (net_is_own(sa)) {
	case 1:
		return "an address of the server's own host";
	case -1: /* fail closed, and say why */
		return "an address the server cannot check (this host's "
		       "addresses are unreadable)";
	default:
		return NULL;
	}
}

const char *
net_check(const struct sockaddr *sa, bool private_ok)
{
	switch (net_classify(sa)) {
	case NET_FORBIDDEN:
		return "a loopback, link-local or otherwise special address";
	case NET_PRIVATE:
		if (!private_ok)
			return "a private address (only an admin's template "
			       "may allow private ranges)";
		break;
	case NET_PUBLIC:
		break;
	}
	return net_own_reason(sa);
}

const char *
net_check_host(const char *host, bool *is_private)
{
	struct sockaddr_storage ss;

	*is_private = false;
	if (net_name_local(host))
		return "a name of the server's own host";
	if (net_literal(host, &ss) < 0)
		return NULL; /* a name: checked once it resolves */
	switch (net_classify((struct sockaddr *)&ss)) {
	case NET_FORBIDDEN:
		return "a loopback, link-local or otherwise special address";
	case NET_PRIVATE:
		*is_private = true;
		break;
	case NET_PUBLIC:
		break;
	}
	return net_own_reason((struct sockaddr *)&ss);
}

int
net_url_host(const char *url, char *host, size_t n)
{
	const char *p = strstr(url, "://"), *at, *end;
	size_t len;

	if (p == NULL)
		return -EINVAL;
	p += 3;
	len = strcspn(p, "/?#");
	at = memrchr(p, '@', len); /* userinfo */
	if (at != NULL) {
		len -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (len > 0 && p[0] == '[') {
		end = memchr(p, ']', len);
		if (end == NULL)
			return -EINVAL;
		p++;
		len = (size_t)(end - p);
	} else {
		end = memchr(p, ':', len);
		if (end != NULL)
			len = (size_t)(end - p);
	}
	if (len == 0 || len >= n)
		return -EINVAL;
	memcpy(host, p, len);
	host[len] = '\0';
	return 0;
}

const char *
net_check_url(const char *url, bool *is_private)
{
	char host[256];

	*is_private = false;
	if (!str_starts_with(url, "http://") &&
	    !str_starts_with(url, "https://"))
		return "must be an http:// or https:// URL";
	for (const char *p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '\\')
			return "must not contain spaces, control characters or "
			       "backslashes";
	if (net_url_host(url, host, sizeof host) < 0)
		return "has no host";
	return net_check_host(host, is_private);
}
