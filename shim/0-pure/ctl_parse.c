#include "ctl_parse.h"

#include <string.h>

#include "record_types.h"

void ctl_begin(struct ctl_progress *ctl, uint8_t type)
{
    ctl->type = type;
    ctl->hdr_need = type == TLS_RECORD_ALERT ? 2 : 4;
    ctl->hdr_have = 0;
    ctl->body_left = 0;
    ctl->key_update = 0;
    ctl->request_update = -1;
}

enum ctl_event ctl_feed(struct ctl_progress *ctl, const uint8_t *p, size_t n,
                        const struct ctl_handlers *h, void *ctx)
{
    while (n > 0) {
        if (ctl->hdr_need == 0) /* the last message ended with the last feed: a new one */
            ctl->hdr_need = ctl->type == TLS_RECORD_ALERT ? 2 : 4;
        if (ctl->hdr_have < ctl->hdr_need) {
            size_t take = ctl->hdr_need - ctl->hdr_have;
            if (take > n)
                take = n;
            memcpy(ctl->hdr + ctl->hdr_have, p, take);
            ctl->hdr_have += take;
            p += take;
            n -= take;
            if (ctl->hdr_have < ctl->hdr_need)
                break;
            if (ctl->type == TLS_RECORD_ALERT) {
                enum ctl_event ev = h->alert(ctx, ctl->hdr[0], ctl->hdr[1]);
                ctl->hdr_have = 0;
                if (ev != CTL_CONTINUE) {
                    ctl->hdr_need = 0;
                    return ev;
                }
                continue;
            }
            ctl->body_left = (size_t)ctl->hdr[1] << 16 | (size_t)ctl->hdr[2] << 8 | ctl->hdr[3];
            enum ctl_event ev = h->handshake(ctx, ctl->hdr[0], ctl->body_left);
            if (ev != CTL_CONTINUE) {
                ctl->hdr_need = ctl->hdr_have = ctl->body_left = 0;
                return ev;
            }
            if (ctl->hdr[0] == CTL_HS_KEY_UPDATE) {
                ctl->key_update = 1;
                ctl->request_update = -1;
            }
        }
        size_t skip = ctl->body_left < n ? ctl->body_left : n;
        if (ctl->key_update && skip > 0)
            ctl->request_update = p[0];
        ctl->body_left -= skip;
        p += skip;
        n -= skip;
        if (ctl->body_left == 0) {
            ctl->hdr_have = 0; /* next message of the same record, if any */
            if (ctl->key_update) {
                ctl->key_update = 0;
                enum ctl_event ev = h->key_update(ctx, ctl->request_update, n);
                if (ev != CTL_CONTINUE) {
                    ctl->hdr_need = 0;
                    return ev;
                }
            }
        }
    }
    if (ctl->hdr_have == 0 && ctl->body_left == 0)
        ctl->hdr_need = 0; /* nothing in progress */
    return CTL_CONTINUE;
}

int ctl_in_progress(const struct ctl_progress *ctl)
{
    return ctl->hdr_need != 0 && (ctl->hdr_have != 0 || ctl->body_left != 0);
}

size_t ctl_wanted(const struct ctl_progress *ctl)
{
    return ctl->hdr_have < ctl->hdr_need ? ctl->hdr_need - ctl->hdr_have : ctl->body_left;
}

int ctl_alert_record_invalid(size_t got, int record_end)
{
    return record_end ? got != 2 : got >= 2;
}
