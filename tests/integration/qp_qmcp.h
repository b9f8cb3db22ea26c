/*
 * Helpers of the QMCP integration tests (qp_qmcp.c).
 */
#ifndef QP_QMCP_H
#define QP_QMCP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../../lib/qmcp_client.h"

#define SECRET "qmcp-test-secret-0123456789abcdef"

struct probe {
	int pid;
	int port;
	int http_port;
	char tap[16];
	char err[256];
	char secret[256];
};

void nap_ms(int ms);
const char *qp_demo(void);
void write_secret(const char *path, const char *text);
/** A probe on a fresh tap, QMCP on a free port, the test secret, this allow-list. */
void probe_start(struct probe *p, const char *allow);
/** The same, with more qprobe options (NULL-terminated). */
void probe_start_args(struct probe *p, const char *allow, char *const extra[]);
/** The same with EAL --lcores of one's own (two probes: their workers on different CPUs). */
void probe_start_lcores(struct probe *p, const char *allow, const char *lcores);
/** A probe configured by a file that names qmcp_port and the secret file. */
void probe_start_config(struct probe *p, const char *config, int qmcp_port, const char *secret);
/** SIGTERM, and a clean exit expected. */
void probe_stop(struct probe *p);
/** Every frame of the demo capture into the tap. */
void inject(const char *tap);
struct qmcp_client *connect_as(const struct probe *p, const char *secret, char *err,
			       size_t errlen, int *rc);
/** A controller with the right secret. */
struct qmcp_client *ctl(const struct probe *p);
struct qmcp_reply call_ok(struct qmcp_client *c, struct qmcp_msg *m);
/** Send a START built by the caller (freed here); its answer's MEAS_ID. */
uint32_t call_start(struct qmcp_client *c, struct qmcp_msg *m);
uint32_t start_meas(struct qmcp_client *c, const char *filter, uint32_t interval_ms, int persist);
json_t *status(struct qmcp_client *c, uint32_t id);
long result_packets(struct qmcp_client *c, uint32_t id, int *nres);
long offline_measured(const char *filter);
void wait_measured(struct qmcp_client *c, uint32_t id, long frames, long measured);

#endif
