# The replica protocol core (a state machine without I/O). CORE_SOURCES: the simulation's mutants
# compile the same files with their flags (tests/local.mk).
CORE_SOURCES = replica/core.h replica/core_int.h replica/core.c replica/core_witness.c \
	replica/core_wlist.c replica/core_weak.c replica/core_vc.c replica/core_replay.c replica/core_snap.c \
	replica/core_xfer.c replica/core_lease.c replica/core_persist.c
noinst_LIBRARIES += replica/libcore.a
replica_libcore_a_SOURCES = $(CORE_SOURCES)
