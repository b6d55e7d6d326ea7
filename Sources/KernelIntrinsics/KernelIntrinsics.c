// The functions of this target are static inline in include/KernelIntrinsics.h.
#include "KernelIntrinsics.h"
