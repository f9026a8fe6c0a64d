# replica/server: the replica process's I/O shell around the core (`curpkv -run server`).
noinst_LIBRARIES += replica/libserver.a
replica_libserver_a_SOURCES = replica/server.h replica/server.c replica/cloops.h replica/cloops.c
