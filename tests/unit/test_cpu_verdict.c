/* cpu_verdict: CPU per byte per arm with the connection as the unit, and the
 * offload/control ratio's 95% interval (delta method, log scale): exact on
 * data without noise, and covering the truth about 95% of the time on
 * simulated A/A arms. */
#include <math.h>
#include <stdint.h>

#include "cpu_verdict.h"
#include "unit.h"

TEST(cpu_exp_matches_libm_where_the_interval_uses_it)
{
    for (double x = -20; x <= 20; x += 0.37) {
        double want = exp(x), got = cpu_exp(x);
        CHECK(fabs(got - want) <= 1e-14 * want);
    }
    CHECK(cpu_exp(0) == 1);
}

static void add_conn(struct cpu_sums *s, double calls, double x, double y)
{
    s->n += 1, s->calls += calls, s->x += x, s->y += y;
    s->xx += x * x, s->yy += y * y, s->xy += x * y;
}

TEST(cpu_per_byte_is_a_ratio_of_sums_and_exact_without_noise)
{
    struct cpu_sums s = {0};
    double r, v;
    CHECK(!cpu_per_byte(&s, &r, &v)); /* nothing sampled */
    add_conn(&s, 3, 10, 100);
    add_conn(&s, 5, 20, 200);
    add_conn(&s, 1, 30, 300);
    REQUIRE(cpu_per_byte(&s, &r, &v));
    CHECK(fabs(r - 0.1) < 1e-15);
    CHECK(v < 1e-12 * r * r); /* every connection costs exactly 0.1 ns a byte (rounding only) */
    /* a connection of twice the cost moves the ratio by its bytes' weight */
    add_conn(&s, 2, 80, 400);
    REQUIRE(cpu_per_byte(&s, &r, &v));
    CHECK(fabs(r - 140.0 / 1000) < 1e-15);
    CHECK(v > 0);
}

TEST(cpu_compare_needs_enough_connections_and_calls)
{
    struct cpu_sums off = {0}, ctl = {0};
    struct cpu_ratio out;
    for (int i = 0; i < CPU_MIN_CONNECTIONS - 1; i++) {
        add_conn(&off, 10, 50, 1000);
        add_conn(&ctl, 10, 100, 1000);
    }
    cpu_compare(&off, &ctl, &out);
    CHECK(!out.enough);
    CHECK(fabs(out.ratio - 0.5) < 1e-12);
    add_conn(&off, 10, 50, 1000);
    add_conn(&ctl, 10, 100, 1000);
    cpu_compare(&off, &ctl, &out);
    CHECK(out.enough);
    CHECK(fabs(out.lo - 0.5) < 1e-9 && fabs(out.hi - 0.5) < 1e-9);
    /* many connections, few calls: still not enough */
    struct cpu_sums thin = {0};
    for (int i = 0; i < CPU_MIN_CONNECTIONS; i++)
        add_conn(&thin, 1, 50, 1000);
    cpu_compare(&thin, &ctl, &out);
    CHECK(!out.enough);
    /* an arm without bytes: no ratio at all */
    struct cpu_sums none = {0};
    cpu_compare(&none, &ctl, &out);
    CHECK(!out.enough && out.ratio == 0);
}

/* xorshift64: a fixed seed, the same draws on every run */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* one simulated connection of an arm whose true cost is ns_per_byte: its
 * bytes vary 100-fold, its cost per byte by +-50% around the truth */
static void simulated_conn(struct cpu_sums *s, double ns_per_byte)
{
    double y = 1000 * (1 + 99 * uniform());
    double x = y * ns_per_byte * (0.5 + uniform());
    add_conn(s, 1 + 20 * uniform(), x, y);
}

TEST(cpu_compare_interval_covers_the_truth_about_95_percent_of_the_time)
{
    int trials = 2000, covered_aa = 0, covered_half = 0;
    for (int t = 0; t < trials; t++) {
        struct cpu_sums a = {0}, b = {0}, c = {0};
        for (int i = 0; i < 60; i++) {
            simulated_conn(&a, 1.0);
            simulated_conn(&b, 1.0);
            simulated_conn(&c, 0.5);
        }
        struct cpu_ratio out;
        cpu_compare(&a, &b, &out);
        covered_aa += out.enough && out.lo <= 1 && out.hi >= 1;
        cpu_compare(&c, &b, &out);
        covered_half += out.enough && out.lo <= 0.5 && out.hi >= 0.5;
    }
    /* 95% nominal; a normal approximation on 60 connections lands near it */
    CHECK(covered_aa > 0.92 * trials && covered_aa < 0.98 * trials);
    CHECK(covered_half > 0.92 * trials && covered_half < 0.98 * trials);
}
