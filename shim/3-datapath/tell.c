#include "tell.h"

#include "ossl.h"

void tell_alert(struct conn *c, SSL *s, int written, uint8_t level, uint8_t desc)
{
    const struct ossl_table *o = ossl();
    const uint8_t alert[2] = {level, desc};
    /* the program's own message callback, with the argument OpenSSL last
     * passed it (there is no getter for SSL_set_msg_callback_arg's) */
    if (c->app_msg_cb)
        c->app_msg_cb(written, o->SSL_version(s), SSL3_RT_ALERT, alert, sizeof(alert), s,
                      c->app_msg_arg);
    void (*info)(const SSL *, int, int) = o->SSL_get_info_callback(s);
    if (!info)
        info = o->SSL_CTX_get_info_callback(o->SSL_get_SSL_CTX(s));
    if (info)
        info(s, written ? SSL_CB_WRITE_ALERT : SSL_CB_READ_ALERT, level << 8 | desc);
}
