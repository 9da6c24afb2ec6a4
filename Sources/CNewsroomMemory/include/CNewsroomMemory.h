// The C allocator's trimming, which Swift's Glibc module does not export (<malloc.h> is not in it).
// Hand-written because no Swift package wraps malloc_trim / mallinfo2: two calls, no state.
#ifndef CNEWSROOM_MEMORY_H
#define CNEWSROOM_MEMORY_H

#include <stddef.h>
#include <stdlib.h>

#include <stdio.h>
#include <unistd.h>

/// The process's resident memory in bytes, from /proc/self/statm; 0 where there is none.
static inline long cnewsroom_resident_bytes(void) {
    FILE *file = fopen("/proc/self/statm", "r");
    if (file == NULL) return 0;
    long size = 0, resident = 0;
    int read = fscanf(file, "%ld %ld", &size, &resident);
    fclose(file);
    return read == 2 ? resident * sysconf(_SC_PAGESIZE) : 0;
}

#if defined(__GLIBC__)
#include <malloc.h>

/// Returns the allocator's free memory to the system (madvise on free pages of every arena).
/// 1 if memory was released, 0 if not.
static inline int cnewsroom_malloc_trim(void) { return malloc_trim(0); }

/// Bytes the allocator holds free in its arenas (what a trim could give back, at most); 0 if unknown.
static inline size_t cnewsroom_malloc_free_bytes(void) {
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
    struct mallinfo2 info = mallinfo2();
    return info.fordblks;
#else
    return 0;
#endif
}

static inline int cnewsroom_malloc_can_trim(void) { return 1; }
#else
static inline int cnewsroom_malloc_trim(void) { return 0; }
static inline size_t cnewsroom_malloc_free_bytes(void) { return 0; }
static inline int cnewsroom_malloc_can_trim(void) { return 0; }
#endif

#endif
