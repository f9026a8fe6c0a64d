bin_PROGRAMS += curpkv
curpkv_SOURCES = cmd/main.c
curpkv_LDADD = verify/libverify.a gw/libgw.a resp/libresp.a server/libserver.a cloops/libcloops.a master/libmaster.a \
	cli/libcli.a loadgen/libloadgen.a report/libreport.a workload/libworkload.a \
	cluster/libcluster.a net/libnet.a auth/libauth.a \
	replica/libcore.a oset/liboset.a client/libsession.a proto/libproto.a desc/libdesc.a cmap/libcmap.a \
	conf/libconf.a wal/libwal.a common/libcommon.a $(MSGPACK_LIBS) $(SODIUM_LIBS) $(CK_LIBS) $(EV_LIBS) -lm
