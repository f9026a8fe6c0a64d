bin_PROGRAMS += curpkv
curpkv_SOURCES = cmd/main.c
curpkv_LDADD = conf/libconf.a common/libcommon.a $(MSGPACK_LIBS) $(CK_LIBS) $(EV_LIBS) -lm
