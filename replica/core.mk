# The replica protocol core (a state machine without I/O).
noinst_LIBRARIES += replica/libcore.a
replica_libcore_a_SOURCES = replica/core.h replica/core.c
