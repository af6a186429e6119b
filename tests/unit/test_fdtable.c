/* The descriptor-indexed table under fdmap and sockwatch: slots stay where
 * they are, chunks appear only when asked, and a range visits exactly the
 * existing slots inside it, across chunk edges and up to the last number. */
#include <limits.h>

#include "fdtable.h"
#include "unit.h"

struct pair_slot {
    int marks;
    int fd;
};

static void mark(void *slot, void *arg)
{
    struct pair_slot *s = slot;
    s->marks++;
    (*(int *)arg)++;
}

TEST(fdtable_slots_are_stable_and_made_on_demand)
{
    static struct fdtable_chunks chunks;
    static struct fdtable t = FDTABLE_OF(struct pair_slot, chunks);
    CHECK(fdtable_slot(&t, 7, 0) == NULL); /* no chunk yet, and none made */
    struct pair_slot *s = fdtable_slot(&t, 7, 1);
    REQUIRE(s);
    CHECK_EQ_INT(s->marks, 0);
    s->fd = 7;
    CHECK(fdtable_slot(&t, 7, 0) == s);
    CHECK(fdtable_slot(&t, 8, 0) == s + 1); /* same chunk, next slot */
    CHECK(fdtable_slot(&t, -1, 1) == NULL);
    CHECK(fdtable_slot(&t, (int)(FDTABLE_MAX_CHUNKS * FDTABLE_CHUNK_SLOTS), 1) == NULL);
    CHECK(fdtable_slot(&t, (int)FDTABLE_CHUNK_SLOTS, 0) == NULL); /* the next chunk: not made */
}

TEST(fdtable_each_visits_existing_slots_in_range_only)
{
    static struct fdtable_chunks chunks;
    static struct fdtable t = FDTABLE_OF(struct pair_slot, chunks);
    REQUIRE(fdtable_slot(&t, 5, 1) && fdtable_slot(&t, (int)FDTABLE_CHUNK_SLOTS + 2, 1));
    int visited = 0;
    /* across the edge of chunk 0 into chunk 1 */
    fdtable_each(&t, FDTABLE_CHUNK_SLOTS - 2, FDTABLE_CHUNK_SLOTS + 2, mark, &visited);
    CHECK_EQ_INT(visited, 5);
    CHECK_EQ_INT(((struct pair_slot *)fdtable_slot(&t, 5, 0))->marks, 0);
    CHECK_EQ_INT(((struct pair_slot *)fdtable_slot(&t, (int)FDTABLE_CHUNK_SLOTS + 2, 0))->marks, 1);
    CHECK_EQ_INT(((struct pair_slot *)fdtable_slot(&t, (int)FDTABLE_CHUNK_SLOTS + 3, 0))->marks, 0);
    /* everything: two chunks' worth, each slot once */
    visited = 0;
    fdtable_each(&t, 0, UINT_MAX, mark, &visited);
    CHECK_EQ_INT(visited, 2 * (int)FDTABLE_CHUNK_SLOTS);
    CHECK_EQ_INT(((struct pair_slot *)fdtable_slot(&t, 5, 0))->marks, 1);
}
