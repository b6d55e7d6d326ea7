#ifndef TANDEM_KERNEL_INTRINSICS_H
#define TANDEM_KERNEL_INTRINSICS_H

// Instructions Swift cannot emit: clang's `_mm_prefetch` is a macro over a builtin, which the Swift
// importer does not bring in. Static inline, so calls compile to the bare instruction.

/// Asks the CPU to start loading the cache line that holds `address` into every cache level.
/// Only a hint: it never faults and changes no results.
static inline __attribute__((always_inline)) void tandem_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
