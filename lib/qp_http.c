/*
 * qp_http: see qp_http.h. Requests are answered in full on MHD's thread;
 * bodies are built by the application callbacks and freed by MHD.
 */
#include "qp_http.h"

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <crypt.h>
#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

/*
 * libmicrohttpd is loaded when the first server starts, not linked: a
 * program that serves no HTTP (an offline run, most tests) starts without
 * it and the ten libraries under it (GnuTLS, nettle, gmp, p11-kit...), 7.5
 * ms of every start here. Its functions are called through pointers of
 * their own declared types.
 */
#define QP_MHD_SONAME "libmicrohttpd.so.12" /* Debian 12's */
#define MHD_FNS(X)                                                                         \
	X(start_daemon) X(stop_daemon) X(run_wait) X(is_feature_supported)                 \
	X(create_response_from_buffer) X(destroy_response) X(add_response_header)          \
	X(queue_response) X(queue_basic_auth_fail_response) X(lookup_connection_value)     \
	X(basic_auth_get_username_password) X(free)
static struct {
#define X(n) __typeof__(MHD_##n) *n;
	MHD_FNS(X)
#undef X
} mhd;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;
static int mhd_loaded;
static char mhd_error[256];

static void mhd_load(void)
{
	void *lib = dlopen(QP_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(mhd_error, sizeof(mhd_error), "%s", dlerror());
		return;
	}
#define X(n)                                                                              \
	if (!(*(void **)&mhd.n = dlsym(lib, "MHD_" #n))) {                                \
		snprintf(mhd_error, sizeof(mhd_error), "%s has no MHD_" #n, QP_MHD_SONAME); \
		return;                                                                   \
	}
	MHD_FNS(X)
#undef X
	mhd_loaded = 1;
}

/*
 * Thread-safety: `stop` is written by the caller of qp_http_stop and read
 * by the HTTP thread; the counters are written by the HTTP thread (MHD
 * calls back on it) and read by any thread with atomic loads; everything
 * else is fixed once the thread runs.
 */
struct qp_http {
	struct MHD_Daemon *d;
	struct qp_http_ops ops;
	struct qp_acl acl;
	struct qp_http_counters cnt;
	pthread_t th;
	int stop;
	/* basic auth (HTTP thread only): the users, and for each the SHA-256
	 * of the latest password that verified (ok[i]: one did) */
	unsigned int nusers;
	struct qp_http_user users[QP_HTTP_USERS_MAX];
	unsigned char good[QP_HTTP_USERS_MAX][SHA256_DIGEST_LENGTH];
	unsigned char ok[QP_HTTP_USERS_MAX];
	struct crypt_data *cd;
	/* TLS: copies of the PEM texts, kept while the daemon runs */
	char *cert_pem, *key_pem;
};

static void http_free(struct qp_http *h)
{
	OPENSSL_cleanse(h->good, sizeof(h->good));
	if (h->key_pem)
		OPENSSL_cleanse(h->key_pem, strlen(h->key_pem));
	free(h->key_pem);
	free(h->cert_pem);
	free(h->cd);
	free(h);
}

static void count(uint64_t *c, int64_t by)
{
	__atomic_fetch_add(c, (uint64_t)by, __ATOMIC_RELAXED);
}

/* Before MHD takes a connection: the allow-list. */
static mhd_result accept_policy(void *cls, const struct sockaddr *sa, socklen_t len)
{
	(void)len;
	struct qp_http *h = cls;
	if (qp_acl_allows(&h->acl, sa))
		return MHD_YES;
	count(&h->cnt.refused_acl, 1);
	return MHD_NO;
}

/* Connections opened and closed (MHD's per-address and total limits refuse
 * before this is called). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)c;
	(void)socket_context;
	struct qp_http *h = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		count(&h->cnt.connections, 1);
		count(&h->cnt.open, 1);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		count(&h->cnt.open, -1);
	}
}

static void *http_thread(void *arg)
{
	struct qp_http *h = arg;
	if (h->ops.thread_init)
		h->ops.thread_init(h->ops.arg);
	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE))
		mhd.run_wait(h->d, 100); /* at most 100 ms between stop checks */
	if (h->ops.thread_fini)
		h->ops.thread_fini(h->ops.arg);
	return NULL;
}

static mhd_result send_body(struct MHD_Connection *c, unsigned int status, char *body,
			    const char *type)
{
	struct MHD_Response *r =
		mhd.create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	mhd.add_response_header(r, "Content-Type", type);
	mhd_result ret = mhd.queue_response(c, status, r);
	mhd.destroy_response(r);
	return ret;
}

/*
 * The application's page: static bytes. It may load nothing from elsewhere
 * (the probe's own JSON only), which the policy says to the browser too.
 */
static mhd_result send_page(struct MHD_Connection *c, const char *page, size_t len)
{
	struct MHD_Response *r =
		mhd.create_response_from_buffer(len, (void *)page, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	mhd.add_response_header(r, "Content-Type", "text/html; charset=utf-8");
	mhd.add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; "
				"style-src 'unsafe-inline'; img-src 'self' data:");
	mhd.add_response_header(r, "Cache-Control", "no-cache");
	mhd_result ret = mhd.queue_response(c, MHD_HTTP_OK, r);
	mhd.destroy_response(r);
	return ret;
}

static mhd_result send_json(struct MHD_Connection *c, unsigned int status, json_t *j)
{
	if (!j)
		return MHD_NO;
	json_int_t st = json_integer_value(json_object_get(j, "status"));
	if (json_object_get(j, "error") && st >= 400 && st < 600)
		status = (unsigned int)st;
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(j);
	if (!s)
		return MHD_NO;
	size_t n = strlen(s);
	char *body = realloc(s, n + 2);
	if (!body) {
		free(s);
		return MHD_NO;
	}
	body[n] = '\n';
	body[n + 1] = 0;
	return send_body(c, status, body, "application/json");
}

static mhd_result send_error(struct MHD_Connection *c, unsigned int status, const char *msg)
{
	return send_json(c, status, json_pack("{s:s,s:i}", "error", msg, "status", (int)status));
}

/* A whole number in [1, max] (text v of parameter name), default def when absent. */
static int uint_value(const char *v, const char *name, unsigned int def, unsigned int max,
		      unsigned int *out, char *err, size_t errlen)
{
	if (!v) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || v[0] == '+' || n < 1 || n > max) {
		snprintf(err, errlen, "%s '%.40s': expected a whole number from 1 to %u", name, v, max);
		return -1;
	}
	*out = (unsigned int)n;
	return 0;
}

static int uint_param(struct MHD_Connection *c, const char *name, unsigned int def,
		      unsigned int max, unsigned int *out, char *err, size_t errlen)
{
	return uint_value(mhd.lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name), name, def,
			  max, out, err, errlen);
}

/*
 * Basic auth: 1 when the request carries a user's name and password. A
 * password is checked against the bcrypt hash once and remembered by its
 * SHA-256; an unknown user costs a bcrypt too, so the time taken does not
 * tell names that exist from names that do not.
 */
static int authorised(struct qp_http *h, struct MHD_Connection *c)
{
	char *pass = NULL;
	char *user = mhd.basic_auth_get_username_password(c, &pass);
	int yes = 0;
	if (user && pass) {
		unsigned int i = 0;
		while (i < h->nusers && strcmp(h->users[i].name, user) != 0)
			i++;
		unsigned char d[SHA256_DIGEST_LENGTH];
		SHA256((const unsigned char *)pass, strlen(pass), d);
		if (i < h->nusers && h->ok[i] && CRYPTO_memcmp(d, h->good[i], sizeof(d)) == 0) {
			yes = 1;
		} else {
			/* a hash of no user's for a name that is not there */
			static const char nobody[] = "$2b$10$3euPcmQFCiblsZeEu5s7p.9OVHgeHWFDk9nhMqZ0m/3pd/lhwZgES";
			const char *hash = i < h->nusers ? h->users[i].hash : nobody;
			const char *t = crypt_r(pass, hash, h->cd);
			if (i < h->nusers && t && strlen(t) == strlen(hash) &&
			    CRYPTO_memcmp(t, hash, strlen(hash)) == 0) {
				memcpy(h->good[i], d, sizeof(d));
				h->ok[i] = 1;
				yes = 1;
			}
		}
		OPENSSL_cleanse(d, sizeof(d));
	}
	if (pass) {
		OPENSSL_cleanse(pass, strlen(pass));
		mhd.free(pass);
	}
	if (user)
		mhd.free(user);
	return yes;
}

static mhd_result refuse_auth(struct MHD_Connection *c)
{
	static const char msg[] = "{\"error\":\"credentials needed: HTTP basic auth with a user of "
				  "the probe's web configuration\",\"status\":401}\n";
	struct MHD_Response *r =
		mhd.create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	mhd.add_response_header(r, "Content-Type", "application/json");
	mhd_result ret = mhd.queue_basic_auth_fail_response(c, "qprobe", r);
	mhd.destroy_response(r);
	return ret;
}

static mhd_result handler(void *cls, struct MHD_Connection *c, const char *url,
			  const char *method, const char *version, const char *upload,
			  size_t *upload_size, void **con_cls)
{
	(void)version;
	(void)upload;
	struct qp_http *h = cls;
	/* MHD calls once with the headers, again with the body: answer on the
	 * second call and refuse any body */
	if (*con_cls == NULL) {
		*con_cls = h;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	count(&h->cnt.requests, 1);
	if (h->nusers && !authorised(h, c)) {
		count(&h->cnt.refused_auth, 1);
		return refuse_auth(c);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "only GET is served here; measurements are controlled over QMCP");
	char err[256];
	if (h->ops.page && (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0))
		return send_page(c, h->ops.page, h->ops.page_len);
	if (strcmp(url, "/api/v1/stats") == 0)
		return send_json(c, MHD_HTTP_OK, h->ops.stats(h->ops.arg));
	if (strcmp(url, "/api/v1/flows") == 0) {
		unsigned int top;
		if (uint_param(c, "top", 100, QP_HTTP_TOP_MAX, &top, err, sizeof(err)))
			return send_error(c, MHD_HTTP_BAD_REQUEST, err);
		const char *s = mhd.lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sort");
		enum qp_flow_sort sort = QP_SORT_BYTES;
		if (s && strcmp(s, "packets") == 0) {
			sort = QP_SORT_PACKETS;
		} else if (s && strcmp(s, "bytes") != 0) {
			snprintf(err, sizeof(err), "sort '%.40s': expected bytes or packets", s);
			return send_error(c, MHD_HTTP_BAD_REQUEST, err);
		}
		unsigned int meas;
		if (uint_param(c, "measurement", 0, UINT32_MAX, &meas, err, sizeof(err)))
			return send_error(c, MHD_HTTP_BAD_REQUEST, err);
		return send_json(c, MHD_HTTP_OK, h->ops.flows(h->ops.arg, meas, top, sort));
	}
	if (strcmp(url, "/api/v1/intervals") == 0) {
		unsigned int last, meas;
		if (uint_param(c, "last", 60, QP_HTTP_LAST_MAX, &last, err, sizeof(err)) ||
		    uint_param(c, "measurement", 0, UINT32_MAX, &meas, err, sizeof(err)))
			return send_error(c, MHD_HTTP_BAD_REQUEST, err);
		return send_json(c, MHD_HTTP_OK, h->ops.intervals(h->ops.arg, meas, last));
	}
	if (strcmp(url, "/api/v1/measurements") == 0)
		return send_json(c, MHD_HTTP_OK, h->ops.measurements(h->ops.arg, 0));
	if (strncmp(url, "/api/v1/measurements/", 21) == 0) {
		unsigned int id;
		if (uint_value(url + 21, "measurement id", 0, UINT32_MAX, &id, err, sizeof(err)))
			return send_error(c, MHD_HTTP_NOT_FOUND, err);
		return send_json(c, MHD_HTTP_OK, h->ops.measurements(h->ops.arg, id));
	}
	if (strcmp(url, "/metrics") == 0) {
		char *m = h->ops.metrics(h->ops.arg);
		if (!m)
			return MHD_NO;
		return send_body(c, MHD_HTTP_OK, m, "text/plain; version=0.0.4");
	}
	snprintf(err, sizeof(err),
		 "no such path '%.60s'; served: /, /api/v1/stats, /api/v1/measurements[/ID], "
		 "/api/v1/flows, /api/v1/intervals, /metrics",
		 url);
	return send_error(c, MHD_HTTP_NOT_FOUND, err);
}

const char *qp_http_lib_error(void)
{
	return mhd_error;
}

struct qp_http *qp_http_start(const char *addr, int port, const struct qp_acl *acl,
			      const struct qp_http_security *sec, const struct qp_http_ops *ops)
{
	pthread_once(&mhd_once, mhd_load);
	if (!mhd_loaded) {
		errno = ELIBACC; /* qp_http_lib_error() says why */
		return NULL;
	}
	int tls = sec && sec->cert_pem && sec->key_pem;
	if (tls && mhd.is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		errno = ENOTSUP;
		return NULL;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	unsigned int flags = MHD_USE_EPOLL;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
	} else {
		errno = EINVAL;
		return NULL;
	}
	struct qp_http *h = calloc(1, sizeof(*h));
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	h->ops = *ops;
	if (acl)
		h->acl = *acl;
	else
		qp_acl_loopback(&h->acl);
	if (sec && sec->nusers) {
		h->nusers = sec->nusers;
		memcpy(h->users, sec->users, sizeof(h->users[0]) * sec->nusers);
	}
	if ((h->nusers && !(h->cd = calloc(1, sizeof(*h->cd)))) ||
	    (tls && (!(h->cert_pem = strdup(sec->cert_pem)) || !(h->key_pem = strdup(sec->key_pem))))) {
		http_free(h);
		errno = ENOMEM;
		return NULL;
	}
	struct MHD_OptionItem o[] = {
		{MHD_OPTION_SOCK_ADDR, 0, &ss},
		{MHD_OPTION_CONNECTION_LIMIT, QP_HTTP_CONNS, NULL},
		{MHD_OPTION_PER_IP_CONNECTION_LIMIT, QP_HTTP_PER_ADDR, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, QP_HTTP_IDLE_S, NULL},
		{MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h},
		/* TLS: the key and certificate, TLS 1.2 and 1.3 (or 1.3 alone) */
		{tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, h->key_pem},
		{MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert_pem},
		{MHD_OPTION_HTTPS_PRIORITIES, 0,
		 (void *)(sec && sec->tls13_only ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
						 : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2")},
		{MHD_OPTION_END, 0, NULL},
	};
	errno = 0;
	h->d = mhd.start_daemon(flags | (tls ? MHD_USE_TLS : 0), (uint16_t)port, accept_policy, h,
				handler, h, MHD_OPTION_ARRAY, o, MHD_OPTION_END);
	if (!h->d) {
		/* the bind's errno, or none: TLS refused what it was given */
		int e = errno ? errno : tls ? EPROTO : EADDRINUSE;
		http_free(h);
		errno = e;
		return NULL;
	}
	int e = pthread_create(&h->th, NULL, http_thread, h);
	if (e) {
		mhd.stop_daemon(h->d);
		http_free(h);
		errno = e;
		return NULL;
	}
	return h;
}

void qp_http_counters(const struct qp_http *h, struct qp_http_counters *c)
{
	memset(c, 0, sizeof(*c));
	if (!h)
		return;
#define QP_HTTP_L_(n, hl) c->n = __atomic_load_n(&h->cnt.n, __ATOMIC_RELAXED);
	QP_HTTP_COUNTERS(QP_HTTP_L_)
#undef QP_HTTP_L_
	c->open = __atomic_load_n(&h->cnt.open, __ATOMIC_RELAXED);
}

void qp_http_stop(struct qp_http *h)
{
	if (!h)
		return;
	__atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
	pthread_join(h->th, NULL);
	mhd.stop_daemon(h->d);
	http_free(h);
}
