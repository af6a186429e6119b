/* shim/0-pure/keylog.c: TLS 1.3 traffic secrets from OpenSSL keylog lines. Exact
 * label only, the whole secret or nothing, the buffer wiped on a rejected
 * half-decoded secret, one final newline tolerated and nothing after it. */
#include "keylog.h"
#include "unit.h"

static const char RANDOM_HEX[] = "1111111111111111111111111111111111111111111111111111111111111111";

TEST(keylog_takes_the_secret_of_the_exact_label)
{
    char line[256];
    uint8_t out[48], want[32];
    snprintf(line, sizeof(line), "CLIENT_TRAFFIC_SECRET_0 %s %s", RANDOM_HEX,
             "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F");
    for (int i = 0; i < 32; i++)
        want[i] = (uint8_t)i;
    CHECK_EQ_INT(keylog_parse_secret(line, "CLIENT_TRAFFIC_SECRET_0", out, sizeof(out)), 32);
    CHECK_MEM(out, want, 32);
    CHECK_EQ_INT(keylog_parse_secret(line, "CLIENT_TRAFFIC_SECRET", out, sizeof(out)), 0);
    CHECK_EQ_INT(keylog_parse_secret(line, "SERVER_TRAFFIC_SECRET_0", out, sizeof(out)), 0);
}

TEST(keylog_tolerates_one_final_newline_and_nothing_after_it)
{
    char line[256];
    uint8_t out[48];
    snprintf(line, sizeof(line), "SERVER_TRAFFIC_SECRET_0 %s abcd\n", RANDOM_HEX);
    CHECK_EQ_INT(keylog_parse_secret(line, "SERVER_TRAFFIC_SECRET_0", out, sizeof(out)), 2);
    snprintf(line, sizeof(line), "SERVER_TRAFFIC_SECRET_0 %s abcd\nef", RANDOM_HEX);
    CHECK_EQ_INT(keylog_parse_secret(line, "SERVER_TRAFFIC_SECRET_0", out, sizeof(out)), 0);
}

TEST(keylog_rejects_bad_odd_or_oversized_secrets_and_wipes_the_buffer)
{
    static const char *const secrets[] = {"abcz", "abc", "ab cd"};
    char line[256];
    uint8_t out[4], zero[4] = {0};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(*secrets); i++) {
        snprintf(line, sizeof(line), "CLIENT_TRAFFIC_SECRET_0 %s %s", RANDOM_HEX, secrets[i]);
        memset(out, 0xa5, sizeof(out));
        CHECK_EQ_INT(keylog_parse_secret(line, "CLIENT_TRAFFIC_SECRET_0", out, sizeof(out)), 0);
        CHECK_MEM(out, zero, sizeof(out));
    }
    /* one byte more than the buffer holds */
    snprintf(line, sizeof(line), "CLIENT_TRAFFIC_SECRET_0 %s 0102030405", RANDOM_HEX);
    memset(out, 0xa5, sizeof(out));
    CHECK_EQ_INT(keylog_parse_secret(line, "CLIENT_TRAFFIC_SECRET_0", out, sizeof(out)), 0);
    CHECK_MEM(out, zero, sizeof(out));
}
