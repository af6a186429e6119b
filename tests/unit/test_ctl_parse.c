/* ctl_parse.c: control records framed across reads of any size, events in
 * order, a KeyUpdate's byte and what trails it in its record. */
#include <string.h>

#include "ctl_parse.h"
#include "unit.h"

struct seen {
    int alerts, handshakes, key_updates;
    uint8_t level, desc, hs_type;
    size_t body_len, trailing;
    int request;
    enum ctl_event answer; /* what every handler says */
};

static enum ctl_event on_alert(void *ctx, uint8_t level, uint8_t desc)
{
    struct seen *s = ctx;
    s->alerts++, s->level = level, s->desc = desc;
    return s->answer;
}

static enum ctl_event on_handshake(void *ctx, uint8_t type, size_t body_len)
{
    struct seen *s = ctx;
    s->handshakes++, s->hs_type = type, s->body_len = body_len;
    return s->answer;
}

static enum ctl_event on_key_update(void *ctx, int request, size_t trailing)
{
    struct seen *s = ctx;
    s->key_updates++, s->request = request, s->trailing = trailing;
    return s->answer;
}

static const struct ctl_handlers handlers = {on_alert, on_handshake, on_key_update};

/* Feeds rec in pieces of `step` bytes; the event of the last feed. */
static enum ctl_event feed_in_steps(struct ctl_progress *ctl, struct seen *s, const uint8_t *rec,
                                    size_t n, size_t step)
{
    enum ctl_event ev = CTL_CONTINUE;
    for (size_t off = 0; off < n && ev == CTL_CONTINUE; off += step)
        ev = ctl_feed(ctl, rec + off, n - off < step ? n - off : step, &handlers, s);
    return ev;
}

TEST(ctl_parse_an_alert_split_byte_by_byte_is_one_event)
{
    struct ctl_progress ctl;
    struct seen s = {.answer = CTL_CONTINUE};
    ctl_begin(&ctl, 21);
    CHECK_EQ_INT(ctl_feed(&ctl, (const uint8_t *)"\x01", 1, &handlers, &s), CTL_CONTINUE);
    CHECK_EQ_INT(s.alerts, 0);
    CHECK(ctl_in_progress(&ctl));
    CHECK_EQ_INT(ctl_wanted(&ctl), 1);
    CHECK_EQ_INT(ctl_feed(&ctl, (const uint8_t *)"\x00", 1, &handlers, &s), CTL_CONTINUE);
    CHECK_EQ_INT(s.alerts, 1);
    CHECK_EQ_INT(s.level, 1);
    CHECK_EQ_INT(s.desc, 0);
    CHECK(!ctl_in_progress(&ctl));
}

TEST(ctl_parse_messages_of_one_record_in_every_split_come_out_whole_and_in_order)
{
    /* a NewSessionTicket of 7 bytes, then a KeyUpdate asking for ours */
    static const uint8_t rec[] = {4, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 24, 0, 0, 1, 1};
    for (size_t step = 1; step <= sizeof(rec); step++) {
        struct ctl_progress ctl;
        struct seen s = {.answer = CTL_CONTINUE};
        ctl_begin(&ctl, 22);
        CHECK_EQ_INT(feed_in_steps(&ctl, &s, rec, sizeof(rec), step), CTL_CONTINUE);
        CHECK_EQ_INT(s.handshakes, 2);
        CHECK_EQ_INT(s.hs_type, 24);
        CHECK_EQ_INT(s.body_len, 1);
        CHECK_EQ_INT(s.key_updates, 1);
        CHECK_EQ_INT(s.request, 1);
        CHECK_EQ_INT(s.trailing, 0);
        CHECK(!ctl_in_progress(&ctl));
    }
}

TEST(ctl_parse_a_key_update_followed_by_bytes_of_its_record_reports_them)
{
    static const uint8_t rec[] = {24, 0, 0, 1, 0, 4, 0, 0, 0};
    struct ctl_progress ctl;
    struct seen s = {.answer = CTL_CONTINUE};
    ctl_begin(&ctl, 22);
    (void)ctl_feed(&ctl, rec, sizeof(rec), &handlers, &s);
    CHECK_EQ_INT(s.key_updates, 1);
    CHECK_EQ_INT(s.request, 0);
    CHECK_EQ_INT(s.trailing, 4);
}

TEST(ctl_parse_an_event_other_than_continue_stops_the_feed_and_drops_the_rest)
{
    static const uint8_t rec[] = {2, 40, 1, 0};
    struct ctl_progress ctl;
    struct seen s = {.answer = CTL_FATAL};
    ctl_begin(&ctl, 21);
    CHECK_EQ_INT(ctl_feed(&ctl, rec, sizeof(rec), &handlers, &s), CTL_FATAL);
    CHECK_EQ_INT(s.alerts, 1);
    CHECK_EQ_INT(s.desc, 40);
    CHECK(!ctl_in_progress(&ctl));
    /* a refused handshake message: its body is not waited for */
    struct seen h = {.answer = CTL_CLOSE};
    ctl_begin(&ctl, 22);
    CHECK_EQ_INT(ctl_feed(&ctl, (const uint8_t *)"\x01\x00\x01\x00", 4, &handlers, &h), CTL_CLOSE);
    CHECK(!ctl_in_progress(&ctl));
    CHECK_EQ_INT(h.key_updates, 0);
}

TEST(ctl_parse_an_alert_record_is_exactly_two_bytes)
{
    CHECK(!ctl_alert_record_invalid(2, 1));
    CHECK(ctl_alert_record_invalid(1, 1));
    CHECK(ctl_alert_record_invalid(3, 1));
    CHECK(!ctl_alert_record_invalid(1, 0)); /* the rest may follow */
    CHECK(ctl_alert_record_invalid(3, 0));
    CHECK(ctl_alert_record_invalid(2, 0)); /* two, and more to come */
}
