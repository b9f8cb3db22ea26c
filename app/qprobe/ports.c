/*
 * Port set-up of live mode: RSS with the symmetric key where the port and
 * its NIC profile allow, Rx timestamps under --timestamps port (the file's
 * time from net_pcap, or the NIC's clock, disciplined here per port).
 * Management core only.
 */
#include "live.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_mbuf_dyn.h>
#include <urcu-qsbr.h>

/* ---- ports ---- */

/* The NIC clock of the port in arg, as the discipline reads it. */
static uint64_t read_nic_clock(void *arg)
{
	uint64_t t = 0;
	rte_eth_read_clock((uint16_t)(uintptr_t)arg, &t);
	return t;
}

/*
 * A port whose frames carry its NIC clock's count: that clock is disciplined
 * against CLOCK_MONOTONIC_RAW and CLOCK_REALTIME like the TSC (its rate is
 * estimated: the first guess, 1 GHz, holds only for the first 20 ms). A clock
 * the PMD cannot read leaves the port on the TSC, with one warning.
 */
static void nic_clock_start(uint16_t port)
{
	char name[RTE_ETH_NAME_MAX_LEN] = "";
	rte_eth_dev_get_name_by_port(port, name);
	uint64_t t;
	int rc = rte_eth_read_clock(port, &t);
	struct qp_clock_src src = qp_clock_system_src(pclock_read_tsc);
	src.tsc = read_nic_clock;
	src.arg = (void *)(uintptr_t)port;
	struct qp_clock *c = NULL;
	if (rc == 0 && (L.port_disc[port] = qp_clock_disc_create(&src, 1e9, 20000000, 1)))
		c = qp_clock_disc_update(L.port_disc[port], 0, NULL);
	if (!c) {
		fprintf(stderr, "qprobe: warning: port %u (%s) stamps frames with its NIC clock, which "
				"%s: its frames are stamped by the TSC\n", port, name,
			rc ? "the PMD cannot read (rte_eth_read_clock)" : "could not be disciplined");
		qp_clock_disc_destroy(L.port_disc[port]);
		L.port_disc[port] = NULL;
		L.port_ts[port] = PORT_TS_NONE;
		return;
	}
	pthread_mutex_lock(&L.clock_mx);
	L.port_clock_st[port] = c->st;
	pthread_mutex_unlock(&L.clock_mx);
	rcu_assign_pointer(L.port_clock[port], c);
	if (!L.o->quiet)
		fprintf(stderr, "qprobe: port %u (%s): NIC clock timestamps, %.0f Hz measured against "
				"CLOCK_MONOTONIC_RAW; disciplined to CLOCK_REALTIME\n", port, name, c->st.hz);
}

/* One anchor of every NIC clock (management core, with the TSC's). */
void ports_nic_clock_anchor(int measuring)
{
	for (uint16_t p = 0; p < L.nports; p++) {
		uint16_t port = L.ports[p];
		if (L.port_ts[port] != PORT_TS_NIC || !L.port_disc[port])
			continue;
		struct qp_clock *c = qp_clock_disc_update(L.port_disc[port], measuring, NULL);
		if (!c)
			continue;
		pthread_mutex_lock(&L.clock_mx);
		L.port_clock_st[port] = c->st;
		pthread_mutex_unlock(&L.clock_mx);
		struct qp_clock *old = L.port_clock[port];
		rcu_assign_pointer(L.port_clock[port], c);
		call_rcu(&old->rcu, pclock_free_cb);
	}
}

static const uint8_t sym_rss_key[52] = {
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
	0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
	0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

int ports_has_rss(uint16_t port, unsigned int nq)
{
	struct rte_eth_dev_info di;
	if (rte_eth_dev_info_get(port, &di) != 0)
		return 0;
	return di.max_rx_queues >= nq && (di.flow_type_rss_offloads & RTE_ETH_RSS_IP) &&
	       di.hash_key_size <= sizeof(sym_rss_key);
}

int ports_setup(uint16_t port, uint16_t nrxq, int rss, const struct profile *prof)
{
	struct rte_eth_dev_info di;
	struct rte_eth_conf conf;
	int rc = rte_eth_dev_info_get(port, &di);
	if (rc)
		return rc;
	memset(&conf, 0, sizeof(conf));
	if (rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = (uint8_t *)sym_rss_key;
		conf.rx_adv_conf.rss_conf.rss_key_len = di.hash_key_size ? di.hash_key_size : 40;
		conf.rx_adv_conf.rss_conf.rss_hf = prof->rss_hf & di.flow_type_rss_offloads;
	}
	if (L.o->ts_port) {
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(port, name);
		/* net_pcap stamps every frame with the file's time without announcing
		 * the offload; a NIC announces it and counts in its own clock, which
		 * is disciplined once the port runs (nic_clock_start) */
		int file = strcmp(prof->timestamp, "file") == 0;
		int nic = !file && (di.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP);
		if (!file && !nic)
			fprintf(stderr, "qprobe: warning: port %u (%s) gives no Rx timestamps: its frames "
					"are stamped by the TSC\n", port, name);
		else {
			if ((rc = rte_mbuf_dyn_rx_timestamp_register(&L.rx_ts_off, &L.rx_ts_flag)) != 0)
				return rc;
			if (nic)
				conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
			L.port_ts[port] = nic ? PORT_TS_NIC : PORT_TS_FILE;
		}
	}
	uint16_t ntxq = 0;
	rc = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	if (rc) { /* some PMDs want a tx queue even on a receive-only port */
		ntxq = 1;
		rc = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	}
	if (rc)
		return rc;
	uint16_t nb_rxd = (uint16_t)(prof->rx_desc && !L.o->rx_desc_set ? prof->rx_desc : L.o->rx_desc);
	uint16_t nb_txd = 512;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
	int socket = rte_eth_dev_socket_id(port);
	for (uint16_t q = 0; q < nrxq; q++)
		if ((rc = rte_eth_rx_queue_setup(port, q, nb_rxd, socket < 0 ? 0 : (unsigned)socket,
						 NULL, L.mp)) != 0)
			return rc;
	for (uint16_t q = 0; q < ntxq; q++)
		if ((rc = rte_eth_tx_queue_setup(port, q, nb_txd,
						 socket < 0 ? 0 : (unsigned)socket, NULL)) != 0)
			return rc;
	if ((rc = rte_eth_dev_start(port)) != 0)
		return rc;
	rte_eth_promiscuous_enable(port); /* a tap sees other hosts' frames */
	if (L.port_ts[port] == PORT_TS_NIC)
		nic_clock_start(port);
	return 0;
}
