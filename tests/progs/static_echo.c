/* static_echo: linked with -static, so the dynamic loader (and LD_PRELOAD)
 * never runs; prints its arguments and exits 7 for the inertness test. */
#include <stdio.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
    return 7;
}
