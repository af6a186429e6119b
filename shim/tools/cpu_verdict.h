/* "Does kTLS cost this service less CPU per byte?" from the shim's sampled
 * I/O calls (cpu_sample.h), with the connection as the unit (the A/B draw
 * assigns connections, and calls of one connection are not independent):
 * per arm, CPU ns per byte as a ratio of means over connections (the sum of
 * their sampled CPU ns over the sum of their sampled bytes), its variance by
 * the delta method, and the ratio offload/control with a 95% interval taken
 * on the log scale (normal approximation). Pure: unit-tested. */
#ifndef KTLS_CPU_VERDICT_H
#define KTLS_CPU_VERDICT_H

/* one arm and direction: n connections, with x the CPU ns and y the bytes
 * of one connection's sampled calls (additive across processes) */
struct cpu_sums {
    double n, calls, x, y, xx, yy, xy;
};

/* fewer connections or sampled calls in an arm: "not enough samples yet" */
#define CPU_MIN_CONNECTIONS 10
#define CPU_MIN_CALLS 30

/* 0 without calls or bytes; else *ns_per_byte and *variance (of that
 * estimate) */
int cpu_per_byte(const struct cpu_sums *s, double *ns_per_byte, double *variance);

struct cpu_ratio {
    int enough;             /* both arms have CPU_MIN_CONNECTIONS and CPU_MIN_CALLS */
    double ratio, lo, hi;   /* offload / control, 95% interval */
};
void cpu_compare(const struct cpu_sums *offload, const struct cpu_sums *control, struct cpu_ratio *out);
double cpu_exp(double x);

#endif
