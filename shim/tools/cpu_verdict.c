#include "cpu_verdict.h"

#include <math.h>

/* e^x without libm's exp, which glibc 2.29 gave a new symbol version (the
 * tools load on 2.28): x = k ln 2 + r with |r| <= ln 2 / 2, a series for e^r,
 * then k doublings or halvings. To 1e-15 relative over the range used here. */
double cpu_exp(double x)
{
    if (x > 700)
        x = 700;
    if (x < -700)
        x = -700;
    const double ln2 = 0.69314718055994530942;
    int k = (int)(x / ln2 + (x < 0 ? -0.5 : 0.5));
    double r = x - k * ln2, term = 1, sum = 1;
    for (int i = 1; i < 30 && (term < 0 ? -term : term) > 1e-17 * sum; i++) {
        term *= r / i;
        sum += term;
    }
    for (; k > 0; k--)
        sum *= 2;
    for (; k < 0; k++)
        sum /= 2;
    return sum;
}

int cpu_per_byte(const struct cpu_sums *s, double *ns_per_byte, double *variance)
{
    if (s->n < 1 || s->y <= 0)
        return 0;
    double n = s->n, r = s->x / s->y;
    *ns_per_byte = r;
    *variance = 0;
    if (n < 2)
        return 1;
    double mx = s->x / n, my = s->y / n;
    double sxx = (s->xx - n * mx * mx) / (n - 1);
    double syy = (s->yy - n * my * my) / (n - 1);
    double sxy = (s->xy - n * mx * my) / (n - 1);
    /* Var(sum x / sum y) ~ (sxx - 2 r sxy + r^2 syy) / (n my^2) */
    double v = (sxx - 2 * r * sxy + r * r * syy) / (n * my * my);
    *variance = v > 0 ? v : 0;
    return 1;
}

void cpu_compare(const struct cpu_sums *offload, const struct cpu_sums *control, struct cpu_ratio *out)
{
    double r1, v1, r0, v0;
    *out = (struct cpu_ratio){0};
    if (!cpu_per_byte(offload, &r1, &v1) || !cpu_per_byte(control, &r0, &v0) || r1 <= 0 || r0 <= 0)
        return;
    out->ratio = r1 / r0;
    double se = sqrt(v1 / (r1 * r1) + v0 / (r0 * r0)); /* of log(ratio) */
    out->lo = out->ratio * cpu_exp(-1.959964 * se);
    out->hi = out->ratio * cpu_exp(1.959964 * se);
    out->enough = offload->n >= CPU_MIN_CONNECTIONS && control->n >= CPU_MIN_CONNECTIONS
                  && offload->calls >= CPU_MIN_CALLS && control->calls >= CPU_MIN_CALLS;
}
