# cluster: the client library's I/O shell (master connection, sessions, stats fetch).
noinst_LIBRARIES += cluster/libcluster.a
cluster_libcluster_a_SOURCES = cluster/cluster.h cluster/cluster.c
