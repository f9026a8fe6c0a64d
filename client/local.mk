# client/cluster: the client library's I/O shell (master connection, sessions, stats fetch).
noinst_LIBRARIES += client/libcluster.a
client_libcluster_a_SOURCES = client/cluster.h client/cluster.c
