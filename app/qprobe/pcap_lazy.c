/*
 * libpcap loaded when a run first needs it, for the capture-file program
 * (build/qprobe) only: a classic Ethernet capture without a filter is read
 * without it (qp_pcap_read_open_self()), and libpcap brings nine libraries
 * with it (D-Bus, systemd, gcrypt, lzma, zstd, lz4...): 2.2 ms of every
 * run's start on the development VM, against cat's whole 2 ms. pcapng
 * files, filters, other link types and two-point runs load it at their
 * first libpcap call, through these functions of the same names (the
 * program is linked without -lpcap; the library's own calls stay its own).
 *
 * A libpcap that cannot be loaded: the opens fail with a message saying so
 * (the caller's own message around it); every other function takes a
 * handle or a program only an open could have made.
 *
 * Thread-safety: the main thread makes every libpcap call.
 */
#include <dlfcn.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>

#define LIBPCAP "libpcap.so.0.8"

static struct {
	int tried;
	void (*close)(pcap_t *);
	int (*compile)(pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32);
	int (*datalink)(pcap_t *);
	const char *(*datalink_val_to_name)(int);
	pcap_t *(*fopen_offline_with_tstamp_precision)(FILE *, u_int, char *);
	void (*freecode)(struct bpf_program *);
	char *(*geterr)(pcap_t *);
	int (*is_swapped)(pcap_t *);
	int (*major_version)(pcap_t *);
	int (*minor_version)(pcap_t *);
	int (*next_ex)(pcap_t *, struct pcap_pkthdr **, const u_char **);
	pcap_t *(*open_dead)(int, int);
	int (*snapshot)(pcap_t *);
	u_int (*filter)(const struct bpf_insn *, const u_char *, u_int, u_int);
	char why[160]; /* dlerror()'s words when it could not be loaded */
} L;

/* 1 when libpcap is loaded (loading it the first time). */
static int load(void)
{
	if (L.tried)
		return L.close != NULL;
	L.tried = 1;
	void *h = dlopen(LIBPCAP, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(L.why, sizeof(L.why), "%s", dlerror());
		return 0;
	}
	/* POSIX's way to a function pointer through void * */
#define SYM(f)                                                                  \
	do {                                                                    \
		*(void **)(&L.f) = dlsym(h, "pcap_" #f);                        \
		if (!L.f) {                                                     \
			snprintf(L.why, sizeof(L.why), "%s has no pcap_" #f, LIBPCAP); \
			return 0;                                               \
		}                                                               \
	} while (0)
	SYM(compile);
	SYM(datalink);
	SYM(datalink_val_to_name);
	SYM(fopen_offline_with_tstamp_precision);
	SYM(freecode);
	SYM(geterr);
	SYM(is_swapped);
	SYM(major_version);
	SYM(minor_version);
	SYM(next_ex);
	SYM(open_dead);
	SYM(snapshot);
	*(void **)(&L.filter) = dlsym(h, "bpf_filter");
	if (!L.filter) {
		snprintf(L.why, sizeof(L.why), "%s has no bpf_filter", LIBPCAP);
		return 0;
	}
	SYM(close); /* last: it says the rest are there */
#undef SYM
	return 1;
}

/* A call that needs a handle only a loaded libpcap could have given. */
static void need(void)
{
	if (!load()) {
		fprintf(stderr, "qprobe: libpcap cannot be loaded: %s\n", L.why);
		abort();
	}
}

pcap_t *pcap_fopen_offline_with_tstamp_precision(FILE *f, u_int precision, char *errbuf)
{
	if (!load()) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "libpcap, which reads this file, cannot be loaded: %s",
			 L.why);
		return NULL;
	}
	return L.fopen_offline_with_tstamp_precision(f, precision, errbuf);
}

pcap_t *pcap_open_dead(int linktype, int snaplen)
{
	if (!load()) {
		fprintf(stderr, "qprobe: libpcap, which compiles filters, cannot be loaded: %s\n",
			L.why);
		return NULL;
	}
	return L.open_dead(linktype, snaplen);
}

const char *pcap_datalink_val_to_name(int dlt)
{
	return load() ? L.datalink_val_to_name(dlt) : NULL;
}

void pcap_close(pcap_t *p)
{
	need();
	L.close(p);
}

int pcap_compile(pcap_t *p, struct bpf_program *prog, const char *expr, int optimize,
		 bpf_u_int32 netmask)
{
	need();
	return L.compile(p, prog, expr, optimize, netmask);
}

int pcap_datalink(pcap_t *p)
{
	need();
	return L.datalink(p);
}

void pcap_freecode(struct bpf_program *prog)
{
	need();
	L.freecode(prog);
}

char *pcap_geterr(pcap_t *p)
{
	need();
	return L.geterr(p);
}

int pcap_is_swapped(pcap_t *p)
{
	need();
	return L.is_swapped(p);
}

int pcap_major_version(pcap_t *p)
{
	need();
	return L.major_version(p);
}

int pcap_minor_version(pcap_t *p)
{
	need();
	return L.minor_version(p);
}

int pcap_next_ex(pcap_t *p, struct pcap_pkthdr **h, const u_char **data)
{
	need();
	return L.next_ex(p, h, data);
}

int pcap_snapshot(pcap_t *p)
{
	need();
	return L.snapshot(p);
}

u_int bpf_filter(const struct bpf_insn *pc, const u_char *p, u_int wirelen, u_int buflen)
{
	need();
	return L.filter(pc, p, wirelen, buflen);
}
