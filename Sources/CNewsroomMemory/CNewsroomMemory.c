// Everything is inline in include/CNewsroomMemory.h; SwiftPM wants one source file per C target.
#include "CNewsroomMemory.h"
