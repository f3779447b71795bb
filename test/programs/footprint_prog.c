/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * For programs/footprint.sh: a minimal program (one small malloc and free) that prints, at the end
 * of main, the pages of liballocator's writable data and .bss (the mappings of the library's
 * file that are writable, and the anonymous one right after them) that this process has made
 * its own: present in /proc/self/pagemap and mapped exclusively (bit 56; an untouched .bss page
 * that was only read maps the shared zero page, which is not). One line per page, its offset
 * from the library's load address in hex. Last, a line "text N R": the library's executable
 * mapping has N pages, R of them present.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    char *p = malloc(16);
    if (p == NULL)
        return 1;
    p[0] = 1;
    free(p);
    FILE *maps = fopen("/proc/self/maps", "r");
    int pm = open("/proc/self/pagemap", O_RDONLY);
    if (maps == NULL || pm < 0)
        return 1;
    char line[4096];
    unsigned long base = 0;
    int after = 0; /* the previous mapping was the library's and writable */
    unsigned long text_pages = 0, text_present = 0;
    long page = sysconf(_SC_PAGESIZE);
    while (fgets(line, sizeof(line), maps) != NULL) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
            continue;
        int lib = strstr(line, "liballocator") != NULL;
        int anon = strchr(line, '/') == NULL && strchr(line, '[') == NULL;
        if (lib && base == 0)
            base = lo;
        if (lib && perms[2] == 'x') {
            for (unsigned long a = lo; a < hi; a += (unsigned long)page) {
                uint64_t e = 0;
                if (pread(pm, &e, sizeof(e), (off_t)(a / (unsigned long)page * 8)) != 8)
                    return 1;
                text_pages++;
                text_present += e >> 63 & 1;
            }
        }
        if ((lib && perms[1] == 'w') || (after && anon)) {
            for (unsigned long a = lo; a < hi; a += (unsigned long)page) {
                uint64_t e = 0;
                if (pread(pm, &e, sizeof(e), (off_t)(a / (unsigned long)page * 8)) != 8)
                    return 1;
                if ((e >> 63 & 1) && (e >> 56 & 1))
                    printf("%lx\n", a - base);
            }
        }
        after = lib && perms[1] == 'w';
    }
    printf("text %lu %lu\n", text_pages, text_present);
    return 0;
}
