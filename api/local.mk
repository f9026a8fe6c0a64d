# api: the installed client library: the public API (include/curpkv.h) and every object it needs.
lib_LIBRARIES = api/libcurpkv.a
api_libcurpkv_a_SOURCES = api/api.c
api_libcurpkv_a_LIBADD = $(cluster_libcluster_a_OBJECTS) $(client_libsession_a_OBJECTS) \
	$(net_libnet_a_OBJECTS) $(auth_libauth_a_OBJECTS) $(conf_libconf_a_OBJECTS) $(proto_libproto_a_OBJECTS) \
	$(common_libcommon_a_OBJECTS)
# The objects above come from other targets: make must build them before archiving.
api_libcurpkv_a_DEPENDENCIES = $(api_libcurpkv_a_LIBADD)
include_HEADERS = include/curpkv.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = curpkv.pc
dist_man_MANS = docs/curpkv.1

# `make installcheck`: a program built against the installed header, library and .pc file only
# runs put/get/del against a cluster started with the installed binary.
EXTRA_DIST += tests/installcheck/hello.c tests/installcheck/run.sh
installcheck-local:
	$(SHELL) $(srcdir)/tests/installcheck/run.sh $(srcdir) $(DESTDIR)$(bindir) \
		$(DESTDIR)$(libdir)/pkgconfig $(DESTDIR)
