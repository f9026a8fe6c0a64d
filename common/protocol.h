/* common/protocol: which protocol of the CURP family a cluster runs (the conf key `protocol`,
 * CONF.md 2; docs/protocols.md compares them). A header of its own so that the protocol cores
 * (replica/core.h, client/session.h), which act on the protocol but read no conf, do not
 * include the conf parser (conf/conf.h, where conf_protocol_name and conf_protocol_parse
 * convert it from and to its name). The names keep the conf_ prefix they were declared with in
 * conf/conf.h: every module that reads a conf uses them. */
#ifndef CURPKV_COMMON_PROTOCOL_H
#define CURPKV_COMMON_PROTOCOL_H

enum conf_protocol {
	CONF_PROTO_CURP = 0,
	CONF_PROTO_CURPHO,
	CONF_PROTO_CURPHT,
};

#endif
