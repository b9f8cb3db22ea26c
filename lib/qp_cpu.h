/*
 * qp_cpu: what the process may run on. An offline run reads the capture
 * ahead on a second thread only when a second processor is there for it:
 * `taskset -c N qprobe ...` keeps a run on one.
 *
 * Thread-safety: any thread.
 */
#ifndef QP_CPU_H
#define QP_CPU_H

/** The processors the calling thread may run on (1 when it cannot tell). */
int qp_cpu_usable(void);

#endif
