/* qp_mix: the 64-bit finaliser of MurmurHash3 (fmix64), shared by the hashes. */
#ifndef QP_MIX_H
#define QP_MIX_H

#include <stdint.h>

static inline uint64_t qp_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#endif
