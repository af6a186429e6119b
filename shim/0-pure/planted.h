/* Known faults, planted on purpose in scratch builds only (make planted:
 * build/planted/NAME/libktls-shim.so), to prove that the torture harness
 * (tests/torture/) finds the kind of bug it exists to find. A real build
 * never defines KTLS_PLANTED_FAULT: every PLANTED() below is then the
 * constant 0 and the compiler drops the faulty branch.
 * tests/83-planted-faults.bats runs the harness against each one. */
#ifndef KTLS_PLANTED_H
#define KTLS_PLANTED_H

enum planted_fault {
    PLANTED_none,
    PLANTED_forget_close,      /* close() keeps the number's connection, whose socket is
                                * then not checked again before a write */
    PLANTED_skip_seq,          /* TX starts one record sequence number too far */
    PLANTED_drop_bio_ref,      /* the program's diverted write BIO is not kept alive */
    PLANTED_ignore_key_update, /* the peer's KeyUpdate is taken without rekeying RX */
    PLANTED_vfork_as_parent,   /* a vfork child's closes count as the parent's */
};

#ifdef KTLS_PLANTED_FAULT
#define PLANTED(name) (KTLS_PLANTED_FAULT == PLANTED_##name)
#else
#define PLANTED(name) 0
#endif

#endif
