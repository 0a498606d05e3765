/*
 * cli_pki.c - `optimfs init DIR` and `optimfs node add DIR NAME`: the
 * cluster's certificate authority and node certificates
 * (transport/pki.h has the layout and certificate profile).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/cli.h"
#include "transport/pki.h"

static const char init_usage[] =
    "usage: optimfs init DIR [--name NAME]\n"
    "\n"
    "Create a cluster certificate authority in DIR (created if missing) "
    "and the\n"
    "first node's key and certificate signed by it:\n"
    "\n"
    "  DIR/ca.pem                CA certificate (give it to every node)\n"
    "  DIR/ca.key                CA private key, mode 0600 (keep it "
    "here)\n"
    "  DIR/nodes/NAME/cert.pem   node certificate\n"
    "  DIR/nodes/NAME/key.pem    node private key, mode 0600\n"
    "\n"
    "Keys are ECDSA P-256.  Peers talk over tls+tcp:// and accept only "
    "certificates\nof this CA.  An existing CA is never overwritten.\n"
    "\n"
    "options:\n"
    "  --name NAME    the first node's name (default: this host's "
    "short name);\n"
    "                 1-63 of A-Z a-z 0-9 . _ -, starting with a letter "
    "or digit\n"
    "  -h, --help     show this help\n";

static const char node_usage[] =
    "usage: optimfs node add DIR NAME\n"
    "\n"
    "Issue a key and certificate for node NAME, signed by the cluster CA "
    "in DIR\n"
    "(made by `optimfs init DIR`), into DIR/nodes/NAME/cert.pem and "
    "key.pem\n"
    "(mode 0600).  The certificate names NAME, localhost and 127.0.0.1 "
    "and\n"
    "serves as both TLS server and client.  An existing node is never "
    "overwritten.\n"
    "NAME: 1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit.\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help\n";

static bool
is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static int
bad_name(const char *cmd, const char *help_cmd, const char *name)
{
	return ofs_usage_error(cmd, help_cmd,
	    "bad node name '%s': use 1 to %d characters of A-Z a-z 0-9 . _ "
	    "-, starting with a letter or digit",
	    name, OTR_PKI_NAME_MAX);
}

/* Issue name's certificate and say where it went; exit status. */
static int
add_node(const char *cmd, const char *dir, const char *name)
{
	char  cert[4096];
	o_err e;

	if ((e = otr_pki_node_add(dir, name)) != O_OK) {
		fprintf(stderr, "optimfs %s: node %s: %s\n", cmd, name,
		    o_err_detail());
		return OFS_EXIT_FAIL;
	}
	(void) otr_pki_path(dir, name, OTR_PKI_NODE_CERT, cert, sizeof(cert));
	printf("node %s: %s (key.pem beside it)\n", name, cert);
	return OFS_EXIT_OK;
}

int
ofs_cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char        host[256], ca[4096];
	const char *name = NULL, *dir;
	int         c;
	o_err       e;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(init_usage, stdout);
			return OFS_EXIT_OK;
		case 'n':
			name = optarg;
			break;
		default:
			return ofs_getopt_error("init", c, argv);
		}
	}
	if (optind != argc - 1 || argv[optind][0] == '\0')
		return ofs_usage_error("init", "init", "%s",
		    optind >= argc ? "missing DIR" : "too many arguments");
	dir = argv[optind];
	if (name == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			host[0] = '\0';
		host[sizeof(host) - 1]   = '\0';
		host[strcspn(host, ".")] = '\0';
		if (!otr_pki_name_valid(host))
			return ofs_usage_error("init", "init",
			    "this host's name '%s' is not a valid node name: "
			    "pass --name NAME",
			    host);
		name = host;
	} else if (!otr_pki_name_valid(name))
		return bad_name("init", "init", name);
	if ((e = otr_pki_init(dir)) != O_OK) {
		fprintf(stderr, "optimfs init: %s\n", o_err_detail());
		return OFS_EXIT_FAIL;
	}
	(void) otr_pki_path(dir, NULL, OTR_PKI_CA_CERT, ca, sizeof(ca));
	printf("cluster CA: %s (ca.key beside it)\n", ca);
	return add_node("init", dir, name);
}

int
ofs_cmd_node(int argc, char **argv)
{
	if (argc >= 2 && is_help(argv[1])) {
		fputs(node_usage, stdout);
		return OFS_EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "add") != 0)
		return ofs_usage_error("node", "node", "%s",
		    argc < 2 ? "missing subcommand (add)"
		             : "unknown subcommand (only 'add')");
	if (argc >= 3 && is_help(argv[2])) {
		fputs(node_usage, stdout);
		return OFS_EXIT_OK;
	}
	if (argc != 4 || argv[2][0] == '\0')
		return ofs_usage_error("node add", "node", "%s",
		    argc < 3       ? "missing DIR and NAME"
		        : argc < 4 ? "missing NAME"
		                   : "too many arguments");
	if (!otr_pki_name_valid(argv[3]))
		return bad_name("node add", "node", argv[3]);
	return add_node("node add", argv[2], argv[3]);
}
