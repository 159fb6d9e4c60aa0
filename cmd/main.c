/* main.c: `p2p [global flags] COMMAND [ARGS]`. */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "lib/log.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { G_VERSION = OPT_FIRST_PRIVATE };

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_OPT_DB,
		CMD_OPT_JSON,
		CMD_OPT_QUIET,
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, G_VERSION },
		CMD_OPT_END,
	};
	const char *env;
	int ch, level = LOG_WARN, rc;

	log_init("p2p", LOG_WARN);
	if ((env = getenv("P2P_LOG_LEVEL")) != NULL && *env != '\0' &&
	    log_level_parse(env) >= 0)
		level = log_level_parse(env);

	cmd_getopt_begin();
	/* '+': stop at the first word that is not an option (the command). */
	while ((ch = getopt_long(argc, argv, "+:hqV", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_DB:
			cmd_globals.db = optarg;
			break;
		case OPT_JSON:
			cmd_globals.json = 1;
			break;
		case 'q':
			cmd_globals.quiet = 1;
			break;
		case OPT_LOG_LEVEL:
			if ((cmd_globals.log_level = log_level_parse(optarg)) < 0) {
				fprintf(stderr, "p2p: unknown log level '%s' (error, warn, info, "
				    "debug)\n", optarg);
				return EXIT_USAGE;
			}
			level = cmd_globals.log_level;
			break;
		case 'h':
			cmd_print_help(stdout);
			return EXIT_OK;
		case 'V':
		case G_VERSION:
			printf("p2p %s\n", P2P_VERSION);
			return EXIT_OK;
		case ':':
			fprintf(stderr, "p2p: option %s needs a value\n", argv[optind - 1]);
			cmd_print_usage(stderr);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "p2p: unknown option %s\n", argv[optind - 1]);
			cmd_print_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cmd_print_usage(stderr);
		return EXIT_USAGE;
	}
	log_set_level(level);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmd_run(argc - optind, argv + optind);
	curl_global_cleanup();
	if (fflush(stdout) == EOF && rc == EXIT_OK) {
		perror("p2p: stdout");
		rc = EXIT_FAIL;
	}
	return rc;
}
