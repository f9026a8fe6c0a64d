bin_PROGRAMS += curpkv
curpkv_SOURCES = cmd/main.c
curpkv_LDADD = verify/libverify.a replica/libserver.a master/libmaster.a client/libloadgen.a client/libcluster.a net/libnet.a auth/libauth.a \
	replica/libcore.a oset/liboset.a client/libsession.a proto/libproto.a desc/libdesc.a cmap/libcmap.a \
	conf/libconf.a common/libcommon.a $(MSGPACK_LIBS) $(SODIUM_LIBS) $(CK_LIBS) $(EV_LIBS) -lm
