# cloops: the replica's extra client-connection loops (replicaLoops > 1) and their hand-off to the
# core's loop; used by server/.
noinst_LIBRARIES += cloops/libcloops.a
cloops_libcloops_a_SOURCES = cloops/cloops.h cloops/cloops.c
