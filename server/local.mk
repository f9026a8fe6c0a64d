# server: the replica process's I/O shell around the core (`curpkv -run server`).
noinst_LIBRARIES += server/libserver.a
server_libserver_a_SOURCES = server/server.h server/server.c
