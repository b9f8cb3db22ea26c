/*
 * qprobe live mode: DPDK ports, worker lcores and the management core.
 *
 * Layout of the lcores (the main lcore is always the management core and
 * never polls a port):
 *  - one worker lcore: it polls queue 0 of every port itself;
 *  - N worker lcores and ports with RSS on N queues: each worker polls its
 *    own queue of every port; the RSS key is the symmetric Toeplitz key
 *    (0x6d5a repeated) over IP addresses, so both directions of a flow, and
 *    every fragment of a datagram, reach one worker;
 *  - N worker lcores and a port without RSS (every virtual PMD): the first
 *    becomes a distributor that stamps each frame, hashes its innermost
 *    addresses symmetrically and hands it to one of the other N-1 workers
 *    through a single-producer/single-consumer rte_ring.
 *
 * Workers run every measurement of the published set (meas.h) on each
 * burst. With no measurement they sleep, RCU-offline, and read nothing
 * (unless --busy-poll); on waking they first drop what queued up meanwhile.
 *
 * The management loop serves QMCP (ctl.h), closes intervals on wall time,
 * re-anchors the TSC clock; HTTP runs on a thread of its own. At the end it
 * writes the report of the standing measurement when one was asked for.
 *
 * This file: set-up (EAL ports, profiles, lcores, pools, measurements, QMCP,
 * HTTP) and the management loop. The worker and distributor loops are in
 * lcore.c, port set-up in ports.c, the packet clock in pclock.c, the HTTP,
 * /metrics, INFO and telemetry views in views.c; live.h has what they share.
 */
#include "live.h"
#include "capture.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <rte_launch.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <urcu-qsbr.h>

#include "config.h"
#include "push.h"
#include "qmcp_auth.h"
#include "qmcp_tls.h"
#include "qp_acl.h"
#include "qp_webcfg.h"
#include "qp_offline.h"
#include "qp_report.h"
#include "tpl.h"

struct live L;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* An allow-list option's list (NULL: loopback only); -1 after its one-line message. */
static int acl_of(const char *opt, const char *list, struct qp_acl *acl)
{
	char err[300];
	qp_acl_loopback(acl);
	if (!list)
		return 0;
	acl->n = 0;
	if (qp_acl_add(acl, list, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "qprobe: %s: %s\n", opt, err);
	return -1;
}

/* Every closed interval: to the sessions subscribed, and to the measurement's receivers. */
static void on_result(struct meas *m, uint64_t seq, const struct qp_interval_rec *rec, void *arg)
{
	(void)arg;
	/* the JSON text is made once for every subscriber and receiver */
	char *text = meas_result_text(m, seq, rec);
	if (text)
		ctl_on_result(meas_id(m), seq, rec->start_ns, text);
	const struct meas_params *p = meas_params(m);
	if (!p->ndest) {
		free(text);
		return;
	}
	/* the largest flows go along to the receivers: the workers chose
	 * them, no table is walked here */
	json_t *top = meas_top_flows_json(m);
	char *flows = top ? json_dumps(top, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
	json_decref(top);
	for (int i = 0; i < p->ndest; i++)
		push_result(p->dest[i], meas_id(m), seq, rec->start_ns, text, flows);
	free(flows);
	free(text);
}

/*
 * After a START: wait (at most 200 ms) until every polling lcore has left its
 * idle state, having dropped what queued up while it slept; from then on
 * every frame is measured.
 */
static void wait_awake(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		int idle = L.sw_dist && CMM_LOAD_SHARED(L.dist_idle);
		for (unsigned int k = 0; k < L.nworkers; k++)
			idle |= CMM_LOAD_SHARED(L.lst[k].idle);
		if (!idle)
			return;
		struct timespec t = {0, 1000000};
		nanosleep(&t, NULL);
	}
}

/* The standing measurement's parameters from the command line. */
static void params_from_opts(const struct qprobe_opts *o, struct meas_params *p)
{
	memset(p, 0, sizeof(*p));
	qp_sig_cfg_default(&p->tp.sig); /* two-point fields come from START only */
	snprintf(p->filter, sizeof(p->filter), "%s", o->filter ? o->filter : "");
	p->interval_ns = o->interval_ns;
	p->idle_ns = o->idle_ns;
	p->active_ns = o->active_ns;
	p->max_flows = o->max_flows;
	p->metrics_off = o->metrics_off;
	p->flow_key = o->flow_key;
	p->rtp = o->rtp;
	memcpy(p->dns_ports, o->dns_ports, sizeof(p->dns_ports));
	p->tls_sni = (uint8_t)(o->tls_sni != 0);
	for (int i = 0; i < o->nipfix && i < IPX_MAX; i++)
		snprintf(p->ipfix[p->nipfix++], sizeof(p->ipfix[0]), "%s", o->ipfix[i]);
	snprintf(p->desc, sizeof(p->desc), "%s", o->description ? o->description : "");
	p->persist = 1;
}


int qprobe_live(const struct qprobe_opts *o)
{
	int rc = QP_EXIT_OK;
	char err[512];
	memset(&L, 0, sizeof(L));
	L.o = o;
	ipx_set_domain(o->ipfix_domain);

	unsigned int nl = rte_lcore_count();
	if (nl < 2) {
		fprintf(stderr, "qprobe: too few lcores: %u given, at least 2 needed (the main lcore "
				"manages, the others poll), e.g. -l 0,1\n", nl);
		return QP_EXIT_USAGE;
	}
	/* who may control us and read us, and the HTTP endpoint's TLS and basic
	 * auth: checked whole before any port is looked at */
	static struct qp_acl acl, http_acl;
	if (acl_of("--allow", o->allow, &acl) || acl_of("--http-allow", o->http_allow, &http_acl))
		return QP_EXIT_USAGE;
	static struct qp_http_security web;
	if (o->web_config && qp_webcfg_load(o->web_config, &web, err, sizeof(err))) {
		fprintf(stderr, "qprobe: --web-config: %s\n", err);
		return QP_EXIT_USAGE;
	}
	/* QMCP over TLS: the port's certificate, and the trust for the servers
	 * this probe connects to (tls:// receivers, two-point secondaries) */
	if (!o->tls_cert != !o->tls_key || (o->tls_only && !o->tls_cert)) {
		fprintf(stderr, "qprobe: %s\n", o->tls_only && !o->tls_cert
						    ? "--tls-only needs --tls-cert and --tls-key"
						    : "--tls-cert and --tls-key go together");
		return QP_EXIT_USAGE;
	}
	static struct qmcp_tls *tls_server, *tls_client;
	if (o->tls_cert && !(tls_server = qmcp_tls_server(o->tls_cert, o->tls_key, err, sizeof(err)))) {
		fprintf(stderr, "qprobe: --tls-cert: %s\n", err);
		return QP_EXIT_USAGE;
	}
	if (!(tls_client = qmcp_tls_client(o->tls_ca, err, sizeof(err)))) {
		fprintf(stderr, "qprobe: --tls-ca: %s\n", err);
		return QP_EXIT_USAGE;
	}
	uint16_t pid;
	RTE_ETH_FOREACH_DEV(pid)
		L.ports[L.nports++] = pid;
	if (L.nports == 0) {
		fprintf(stderr, "qprobe: no DPDK port: bind a NIC with dpdk-devbind.py or give a "
				"virtual device, e.g. --vdev net_pcap0,rx_pcap=FILE\n");
		return QP_EXIT_USAGE;
	}

	/* each port's NIC profile, by its driver */
	const char *pdir = o->drivers_cfg ? o->drivers_cfg : profile_default_dir();
	for (uint16_t p = 0; p < L.nports; p++) {
		struct rte_eth_dev_info di;
		char name[RTE_ETH_NAME_MAX_LEN] = "", note[600];
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		const char *drv = rte_eth_dev_info_get(L.ports[p], &di) == 0 && di.driver_name
					  ? di.driver_name : "?";
		int r = profile_for(pdir, drv, &L.prof[p], note, sizeof(note));
		if (r < 0) {
			fprintf(stderr, "qprobe: the NIC profiles in %s have errors (above); not starting "
					"with a port half-configured\n", pdir);
			return QP_EXIT_USAGE;
		}
		if (r == 0)
			fprintf(stderr, "qprobe: warning: port %u (%s): %s: safe defaults (RSS on IP "
					"addresses when the port offers it, %u rx descriptors)\n",
				L.ports[p], name, note, o->rx_desc);
		else if (!o->quiet)
			fprintf(stderr, "qprobe: port %u (%s): driver %s, profile %s/%s (%s)\n", L.ports[p],
				name, drv, pdir, L.prof[p].file, L.prof[p].family);
	}

	/* who we are, and who may control us */
	char host[64] = "probe";
	gethostname(host, sizeof(host) - 1);
	snprintf(L.probe_id, sizeof(L.probe_id), "%s", o->probe_id ? o->probe_id : host);
	snprintf(L.probe_name, sizeof(L.probe_name), "%s", o->probe_name ? o->probe_name : host);
	static uint8_t secret[QMCP_SECRET_MAX];
	size_t secret_len = 0;
	if (o->secret_file &&
	    qmcp_secret_load(o->secret_file, secret, sizeof(secret), &secret_len, err, sizeof(err))) {
		fprintf(stderr, "qprobe: --secret-file: %s\n", err);
		return QP_EXIT_USAGE;
	}

	unsigned int lc, k = 0;
	unsigned int lcores[RTE_MAX_LCORE];
	RTE_LCORE_FOREACH_WORKER(lc)
		lcores[k++] = lc;
	int rss = k > 1 && !o->force_sw_dist;
	for (uint16_t p = 0; rss && p < L.nports; p++)
		rss = ports_has_rss(L.ports[p], k) && L.prof[p].rss &&
		      (!L.prof[p].max_rx_queues || k <= L.prof[p].max_rx_queues);
	L.sw_dist = k > 1 && !rss;
	unsigned int first_worker = 0;
	if (L.sw_dist) {
		L.dist_lcore = lcores[0];
		first_worker = 1;
	}
	L.nworkers = k - first_worker;
	for (unsigned int i = 0; i < L.nworkers; i++)
		L.worker_lcore[i] = lcores[first_worker + i];

	push_init(L.probe_id, o->secret_file ? secret : NULL, secret_len, tls_client);
	tpl_init(L.probe_id, o->secret_file ? secret : NULL, secret_len, tls_client, ctl_push_frame,
		 lcore_done_ns);
	if (meas_init(L.nworkers, L.worker_lcore, o->flow_budget, o->flow_dists, on_result,
		      NULL) != 0)
		return QP_EXIT_RUNTIME; /* it said why */
	if (o->spool) {
		/* what an earlier run left to send, and measurement ids that go on from
		 * its, so its results and this run's never share an id at a receiver */
		char ids[4200];
		snprintf(ids, sizeof(ids), "%s/next-measurement-id", o->spool);
		if (push_spool(o->spool, (uint64_t)(o->spool_mb ? o->spool_mb : 64) << 20, err,
			       sizeof(err)) != 0 ||
		    meas_ids_file(ids, err, sizeof(err)) != 0) {
			fprintf(stderr, "qprobe: --spool: %s\n", err);
			return QP_EXIT_USAGE;
		}
	}
	meas_set_clock(pclock_packet_now, o->ts_port);
	if (pclock_start() != 0) {
		rc = QP_EXIT_RUNTIME;
		goto out;
	}

	static const struct rte_mbuf_dynfield tsdesc = {
		.name = "qprobe_rx_ts_ns",
		.size = sizeof(uint64_t),
		.align = __alignof__(uint64_t),
	};
	L.ts_off = rte_mbuf_dynfield_register(&tsdesc);
	L.mp = rte_pktmbuf_pool_create("qp_mbufs", o->mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
	if (L.ts_off < 0 || !L.mp) {
		fprintf(stderr, "qprobe: cannot create a pool of %u mbufs: %s (give EAL more memory "
				"with -m, or fewer --mbufs)\n", o->mbufs, rte_strerror(rte_errno));
		rc = QP_EXIT_RUNTIME;
		goto out;
	}
	for (unsigned int i = 0; i < L.nworkers && L.sw_dist; i++) {
		char rn[32];
		snprintf(rn, sizeof(rn), "qp_ring_%u", i);
		L.ring[i] = rte_ring_create(rn, RING_SIZE, (int)rte_socket_id(),
					    RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!L.ring[i]) {
			fprintf(stderr, "qprobe: cannot create ring %s: %s\n", rn, rte_strerror(rte_errno));
			rc = QP_EXIT_RUNTIME;
			goto out;
		}
	}
	/* the standing measurement, running before any worker polls */
	uint32_t standing = 0;
	if (o->measure) {
		struct meas_params p;
		params_from_opts(o, &p);
		p.packet_rate = o->packet_rate; /* the standing one's; START asks for its own */
		long id = meas_start(&p, "command line", -1, err, sizeof(err));
		if (id < 0) {
			fprintf(stderr, "qprobe: %s\n", err);
			rc = id == -EINVAL ? QP_EXIT_INPUT : QP_EXIT_RUNTIME;
			goto out;
		}
		standing = (uint32_t)id;
	}
	for (int i = 0; o->cfg && i < o->cfg->nmeas; i++) {
		long id = meas_start(&o->cfg->meas[i], "config", -1, err, sizeof(err));
		if (id < 0) {
			fprintf(stderr, "qprobe: %s: $.measurements[%d]: %s\n", o->config, i, err);
			rc = id == -EINVAL ? QP_EXIT_INPUT : QP_EXIT_RUNTIME;
			goto out;
		}
		if (!o->quiet)
			fprintf(stderr, "qprobe: standing measurement %ld from %s ($.measurements[%d])\n", id,
			o->config, i);
	}
	static char desc[1024];
	size_t dl = 0;
	for (uint16_t p = 0; p < L.nports; p++) {
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		uint16_t nq = (uint16_t)(rss ? L.nworkers : 1);
		int e = ports_setup(L.ports[p], nq, rss, &L.prof[p]);
		if (e) {
			fprintf(stderr, "qprobe: port %u (%s): setup failed: %s\n", L.ports[p], name,
				strerror(e < 0 ? -e : e));
			rc = QP_EXIT_RUNTIME;
			goto out;
		}
		if (dl < sizeof(desc))
			dl += (size_t)snprintf(desc + dl, sizeof(desc) - dl, "%s%s", p ? "," : "", name);
	}
	L.source_desc = desc;
	lcore_assign_queues(rss);
	if (!o->quiet)
		fprintf(stderr, "qprobe: %u port(s) [%s], %u worker lcore(s), %s\n", L.nports, desc,
		L.nworkers, L.sw_dist ? "software distribution" : rss ? "symmetric RSS" : "single worker");

	struct qp_http *http = NULL;
	if (o->http_port) {
		struct qp_http_ops ops;
		views_http_ops(&ops);
		http = qp_http_start(o->http_addr, o->http_port, &http_acl, &web, &ops);
		int https = web.cert_pem != NULL;
		unsigned int users = web.nusers;
		qp_webcfg_free(&web); /* the server keeps copies */
		L.http = http;
		if (!http && errno == EPROTO) {
			fprintf(stderr, "qprobe: cannot serve HTTPS on %s port %d: the TLS library "
					"refused the certificate or key of --web-config %s\n",
				o->http_addr, o->http_port, o->web_config);
			rc = QP_EXIT_USAGE;
			goto stop_ports;
		}
		if (!http && errno == ELIBACC) {
			fprintf(stderr, "qprobe: cannot serve HTTP: %s (Debian's libmicrohttpd12 "
					"package provides the library)\n",
				qp_http_lib_error());
			rc = QP_EXIT_RUNTIME;
			goto stop_ports;
		}
		if (!http) {
			fprintf(stderr, "qprobe: cannot serve HTTP on %s port %d: %s (a free port and "
					"an IPv4/IPv6 literal are accepted)\n",
				o->http_addr, o->http_port, strerror(errno));
			rc = QP_EXIT_USAGE;
			goto stop_ports;
		}
		if (!o->quiet)
			fprintf(stderr, "qprobe: %s on %s:%d%s\n", https ? "HTTPS" : "HTTP", o->http_addr,
				o->http_port, users ? ", basic auth" : "");
	}
	qp_webcfg_free(&web); /* no HTTP endpoint: not needed */
	if (o->qmcp_port) {
		struct ctl_cfg cc = {
			.addr = o->qmcp_addr,
			.port = o->qmcp_port,
			.secret = o->secret_file ? secret : NULL,
			.secret_len = secret_len,
			.acl = &acl,
			.probe_id = L.probe_id,
			.probe_name = L.probe_name,
			.info = views_info_fill,
			.started = wait_awake,
			.no_two_point = views_no_two_point(),
			.tls = tls_server,
			.tls_only = o->tls_only,
		};
		params_from_opts(o, &cc.defaults);
		cc.defaults.filter[0] = 0;
		cc.defaults.desc[0] = 0;
		cc.defaults.persist = 0;
		cc.defaults.nipfix = 0; /* --ipfix is the standing measurement's */
		cc.defaults.max_flows = o->meas_max_flows;
		cap_set_ceiling(o->capture_ceiling);
		if (ctl_start(&cc, err, sizeof(err))) {
			fprintf(stderr, "qprobe: %s (a free port and an IPv4/IPv6 literal are accepted; "
					"--qmcp-port 0 turns QMCP off)\n", err);
			qp_http_stop(http);
			rc = QP_EXIT_USAGE;
			goto stop_ports;
		}
		if (!o->quiet)
			fprintf(stderr, "qprobe: QMCP on %s port %d (TCP%s, and UDP discovery)%s\n",
				o->qmcp_addr, o->qmcp_port,
				!tls_server ? "" : o->tls_only ? " over TLS only" : ", plain or over TLS",
				o->secret_file ? ", shared secret required" : "");
	}

	views_tel_register(); /* everything it reads is set up */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	uint64_t start_ns = qp_clock_realtime_ns();
	/* liburcu starts its call_rcu thread for whoever calls call_rcu first, and
	 * the thread inherits that caller's CPU: a worker freeing a flow would
	 * put it beside its own busy poll. It starts here, on the management core */
	get_default_call_rcu_data();
	lcore_launch();

	rcu_register_thread();
	rcu_thread_offline();
	uint64_t deadline = o->duration_s > 0 ? start_ns + (uint64_t)(o->duration_s * 1e9) : 0;
	uint64_t next_anchor = pclock_mono_ns() + qp_clock_disc_period_ns(L.disc);
	while (!g_stop) {
		/* idle, the loop wakes for sockets only (and 10 times a second);
		 * measuring, every 5 ms to close intervals on time */
		ctl_poll(meas_count() ? (cap_count() ? 1 : 5) : 100);
		cap_poll();
		push_poll();
		ipx_poll(qp_clock_realtime_ns());
		uint64_t now = qp_clock_realtime_ns();
		if (deadline && now >= deadline)
			break;
		/* intervals close on packet time, which a step of the system clock
		 * does not move */
		meas_tick(pclock_packet_now(), 0);
		if (L.o->ts_port)
			pclock_warn_missing_ts();
		uint64_t mono = pclock_mono_ns();
		if (mono >= next_anchor) {
			pclock_anchor();
			next_anchor = mono + qp_clock_disc_period_ns(L.disc);
		}
	}
	CMM_STORE_SHARED(L.quit, 1);
	rte_eal_mp_wait_lcore();
	cap_fini();
	ctl_stop();
	qp_http_stop(http);
	meas_stop_all(o->report_requested ? standing : 0);
	push_flush(2000); /* what is queued for receivers gets its chance to go */
	push_fini();
	ipx_flush_all(2000); /* the same for IPFIX collectors */
	ipx_fini();
	if (o->report_requested && standing)
		rc = meas_report(standing, o->report_format, o->report_file, L.source_desc);
	rcu_unregister_thread();
stop_ports:
	for (uint16_t p = 0; p < L.nports; p++) {
		rte_eth_dev_stop(L.ports[p]);
		rte_eth_dev_close(L.ports[p]);
	}
out:
	meas_fini();
	for (unsigned int i = 0; i < L.nworkers; i++)
		if (L.ring[i])
			rte_ring_free(L.ring[i]);
	rte_mempool_free(L.mp);
	if (L.clock)
		call_rcu(&L.clock->rcu, pclock_free_cb);
	for (uint16_t p = 0; p < RTE_MAX_ETHPORTS; p++)
		if (L.port_clock[p])
			call_rcu(&L.port_clock[p]->rcu, pclock_free_cb);
	rcu_barrier();
	qp_clock_disc_destroy(L.disc);
	for (uint16_t p = 0; p < RTE_MAX_ETHPORTS; p++)
		qp_clock_disc_destroy(L.port_disc[p]);
	return rc;
}
