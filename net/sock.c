/* net: socket helpers in the style of Redis' anet.c (error text for the caller, no logging). */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int net_set_nonblock(int fd, char *err)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		int e = errno;
		snprintf(err, NET_ERR_LEN, "fcntl(O_NONBLOCK): %s", strerror(e));
		return -e;
	}
	return 0;
}

int net_set_nodelay(int fd, char *err)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
		int e = errno;
		snprintf(err, NET_ERR_LEN, "setsockopt(TCP_NODELAY): %s", strerror(e));
		return -e;
	}
	return 0;
}

int net_resolve(const char *host, uint16_t port, struct sockaddr_storage *sa, socklen_t *salen,
		char *err)
{
	memset(sa, 0, sizeof *sa);
	struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*salen = sizeof *in4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*salen = sizeof *in6;
		return 0;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || res == NULL) {
		snprintf(err, NET_ERR_LEN, "cannot resolve '%s': %s", host, gai_strerror(rc));
		if (res)
			freeaddrinfo(res);
		return -EHOSTUNREACH;
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*salen = res->ai_addrlen;
	if (sa->ss_family == AF_INET)
		in4->sin_port = htons(port);
	else
		in6->sin6_port = htons(port);
	freeaddrinfo(res);
	return 0;
}

void net_format_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof ip);
		port = ntohs(in4->sin_port);
		snprintf(out, outlen, "%s:%u", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		port = ntohs(in6->sin6_port);
		snprintf(out, outlen, "[%s]:%u", ip, port);
	} else {
		snprintf(out, outlen, "local");
	}
}

int net_tcp_connect(const struct sockaddr *sa, socklen_t salen, const struct sockaddr *src,
		    socklen_t srclen, int *fd, char *err)
{
	char addr[64];
	int s = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		int e = errno;
		snprintf(err, NET_ERR_LEN, "socket: %s", strerror(e));
		return -e;
	}
	(void)net_set_nodelay(s, err);
	if (srclen > 0 && src->sa_family == sa->sa_family)
		(void)bind(s, src, srclen); /* not local here (NAT): connect from any address */
	if (connect(s, sa, salen) == 0) {
		*fd = s;
		return 0;
	}
	int e = errno;
	if (e == EINPROGRESS) {
		*fd = s;
		return -EINPROGRESS;
	}
	net_format_addr(sa, addr, sizeof addr);
	snprintf(err, NET_ERR_LEN, "connect %s: %s", addr, strerror(e));
	close(s);
	return -e;
}

int net_local_name(const struct sockaddr *sa, struct sockaddr_un *un, socklen_t *unlen)
{
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	char addr[64];
	net_format_addr(sa, addr, sizeof addr);
	memset(un, 0, sizeof *un);
	un->sun_family = AF_UNIX;
	/* sun_path[0] = '\0': the abstract namespace; the name is the bytes after it */
	int n = snprintf(un->sun_path + 1, sizeof un->sun_path - 1, "curpkv:%s", addr);
	*unlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	return 0;
}

/* A non-blocking Unix stream socket for the name of sa into *fd, *un and *unlen. */
static int local_socket(const struct sockaddr *sa, struct sockaddr_un *un, socklen_t *unlen,
			int *fd, char *err)
{
	int rc = net_local_name(sa, un, unlen);
	if (rc != 0) {
		snprintf(err, NET_ERR_LEN, "no local socket name for this address family");
		return rc;
	}
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0) {
		rc = -errno;
		snprintf(err, NET_ERR_LEN, "socket(AF_UNIX): %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int net_local_listen(const struct sockaddr *sa, int backlog, int *fd, char *err)
{
	struct sockaddr_un un;
	socklen_t unlen;
	int s, rc = local_socket(sa, &un, &unlen, &s, err);
	if (rc != 0)
		return rc;
	if (bind(s, (struct sockaddr *)&un, unlen) < 0) {
		rc = -errno;
		snprintf(err, NET_ERR_LEN, "bind local socket @%s: %s", un.sun_path + 1,
			 strerror(-rc));
		goto err_close;
	}
	if (listen(s, backlog) < 0) {
		rc = -errno;
		snprintf(err, NET_ERR_LEN, "listen on local socket @%s: %s", un.sun_path + 1,
			 strerror(-rc));
		goto err_close;
	}
	*fd = s;
	return 0;

err_close:
	close(s);
	return rc;
}

int net_local_connect(const struct sockaddr *sa, int *fd, char *err)
{
	struct sockaddr_un un;
	socklen_t unlen;
	int s, rc = local_socket(sa, &un, &unlen, &s, err);
	if (rc != 0)
		return rc;
	if (connect(s, (struct sockaddr *)&un, unlen) < 0) {
		rc = -errno;
		snprintf(err, NET_ERR_LEN, "connect local socket @%s: %s", un.sun_path + 1,
			 strerror(-rc));
		close(s);
		return rc;
	}
	*fd = s;
	return 0;
}

bool net_fd_is_local(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	return getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && sa.ss_family == AF_UNIX;
}

/* Fills the wildcard address of family into sa. */
static void wildcard(int family, uint16_t port, struct sockaddr_storage *sa, socklen_t *salen)
{
	memset(sa, 0, sizeof *sa);
	if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_any;
		in6->sin6_port = htons(port);
		*salen = sizeof *in6;
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
		in4->sin_family = AF_INET;
		in4->sin_addr.s_addr = htonl(INADDR_ANY);
		in4->sin_port = htons(port);
		*salen = sizeof *in4;
	}
}

int net_tcp_bind(const char *host, uint16_t port, int *fd, uint16_t *bound_port, bool *any,
		 char *err)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int rc;
	*any = false;
	if (host == NULL || host[0] == '\0') {
		wildcard(AF_INET, port, &sa, &salen);
		*any = true;
	} else if ((rc = net_resolve(host, port, &sa, &salen, err)) != 0) {
		return rc;
	}
	int s = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		rc = -errno;
		snprintf(err, NET_ERR_LEN, "socket: %s", strerror(-rc));
		return rc;
	}
	int one = 1;
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
		rc = -errno;
		snprintf(err, NET_ERR_LEN, "setsockopt(SO_REUSEADDR): %s", strerror(-rc));
		goto err_close;
	}
	if (bind(s, (struct sockaddr *)&sa, salen) < 0) {
		rc = -errno;
		if (rc != -EADDRNOTAVAIL || *any) {
			snprintf(err, NET_ERR_LEN, "bind %s:%u: %s", host ? host : "*", port,
				 strerror(-rc));
			goto err_close;
		}
		/* Not an address of this host (a conf written for other machines, NAT): listen on
		 * every interface instead. */
		wildcard(sa.ss_family, port, &sa, &salen);
		*any = true;
		if (bind(s, (struct sockaddr *)&sa, salen) < 0) {
			rc = -errno;
			snprintf(err, NET_ERR_LEN, "bind *:%u: %s", port, strerror(-rc));
			goto err_close;
		}
	}
	struct sockaddr_storage got;
	socklen_t glen = sizeof got;
	if (getsockname(s, (struct sockaddr *)&got, &glen) < 0) {
		rc = -errno;
		snprintf(err, NET_ERR_LEN, "getsockname: %s", strerror(-rc));
		goto err_close;
	}
	*bound_port = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
						: ntohs(((struct sockaddr_in *)&got)->sin_port);
	*fd = s;
	return 0;

err_close:
	close(s);
	return rc;
}

int net_tcp_listen(const char *host, uint16_t port, int backlog, int *fd, uint16_t *bound_port,
		   bool *any, char *err)
{
	int rc = net_tcp_bind(host, port, fd, bound_port, any, err);
	if (rc != 0)
		return rc;
	if (listen(*fd, backlog) < 0) {
		rc = -errno;
		snprintf(err, NET_ERR_LEN, "listen: %s", strerror(-rc));
		close(*fd);
		*fd = -1;
	}
	return rc;
}

int net_sockaddr_local(const struct sockaddr *sa, socklen_t salen, char *err)
{
	struct sockaddr_storage any;
	if (salen > sizeof any || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
		snprintf(err, NET_ERR_LEN, "not an IPv4 or IPv6 address");
		return -EAFNOSUPPORT;
	}
	memcpy(&any, sa, salen);
	if (any.ss_family == AF_INET6) /* port 0: nothing is taken */
		((struct sockaddr_in6 *)&any)->sin6_port = 0;
	else
		((struct sockaddr_in *)&any)->sin_port = 0;
	int s = socket(any.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		int rc = -errno;
		snprintf(err, NET_ERR_LEN, "socket: %s", strerror(-rc));
		return rc;
	}
	/* binding succeeds only for an address of this machine */
	bool local = bind(s, (struct sockaddr *)&any, salen) == 0;
	close(s);
	return local ? 1 : 0;
}

int net_addr_local(const char *host, char *ip, size_t iplen, char *err)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int rc = net_resolve(host, 0, &sa, &salen, err);
	if (rc != 0)
		return rc;
	rc = net_sockaddr_local((struct sockaddr *)&sa, salen, err);
	if (rc < 0)
		return rc;
	char text[64];
	net_format_addr((struct sockaddr *)&sa, text, sizeof text);
	net_peer_ip(text, ip, iplen);
	return rc;
}

void net_peer_ip(const char *peer, char *out, size_t outlen)
{
	const char *p = peer;
	size_t len = strlen(p);
	if (p[0] == '[') {
		const char *end = strchr(p, ']');
		if (end) {
			p++;
			len = (size_t)(end - p);
		}
	} else {
		const char *colon = strrchr(p, ':');
		if (colon && colon == strchr(p, ':')) /* one colon: addr:port */
			len = (size_t)(colon - p);
	}
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}
