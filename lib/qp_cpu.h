/*
 * qp_cpu: what the process may run on. An offline run puts a second thread
 * to work (reading the capture ahead, writing the report's flows) only when
 * a second processor is there for it: `taskset -c N qprobe ...` keeps a run
 * on one.
 *
 * Thread-safety: any thread.
 */
#ifndef QP_CPU_H
#define QP_CPU_H

/** The processors the calling thread may run on (1 when it cannot tell). */
int qp_cpu_usable(void);

#endif
