/* coffer init --repo DIR [--suite international|national] */
#include <getopt.h>
#include <string.h>

#include "console.h"
#include "util/hex.h"
#include "util/log.h"

static void init_usage(void)
{
	fprintf(stderr, "usage: coffer init --repo DIR [--suite international|national]\n"
			"       [--passphrase-file FILE]\n"
			"       [--chunk-min BYTES --chunk-avg BYTES --chunk-max BYTES]\n");
}

int cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "chunk-min", required_argument, NULL, 'm' },
		{ "chunk-avg", required_argument, NULL, 'a' },
		{ "chunk-max", required_argument, NULL, 'M' },
		{ "kdf-cost", required_argument, NULL, 'k' },
		{ "suite", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts c = { 0 };
	struct repo_init_opts o;
	repo_init_opts_default(&o);
	unsigned v;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case 'm': if (parse_uint("chunk-min", optarg, &v)) return EXIT_USAGE; o.chunk_min = v; break;
		case 'a': if (parse_uint("chunk-avg", optarg, &v)) return EXIT_USAGE; o.chunk_avg = v; break;
		case 'M': if (parse_uint("chunk-max", optarg, &v)) return EXIT_USAGE; o.chunk_max = v; break;
		case 'k':
			/* log2 of scrypt's N; tests lower it to run fast. */
			if (parse_uint("kdf-cost", optarg, &v) || v < 10 || v > 22) {
				log_errorx("--kdf-cost must be between 10 and 22");
				return EXIT_USAGE;
			}
			o.scrypt_n = 1ull << v;
			break;
		case 's':
			if (parse_suite(optarg, &o.suite) != 0)
				return EXIT_USAGE;
			break;
		case 'h': init_usage(); return EXIT_OK;
		default: init_usage(); return EXIT_USAGE;
		}
	}
	if (optind != argc || common_require_repo(&c, "init") != 0) {
		init_usage();
		return EXIT_USAGE;
	}
	char *pass;
	size_t len;
	if (passphrase_get(&c, true, &pass, &len) != 0)
		return EXIT_FAIL;
	int e = repo_init(c.repo, pass, len, &o);
	passphrase_free(pass, len);
	if (e != 0)
		return EXIT_FAIL;
	if (c.json) {
		printf("{\"repository\":");
		json_cstr(stdout, c.repo);
		printf(",\"created\":true}\n");
	}
	else if (!c.quiet)
		printf("created repository at %s\n"
		       "Keep the passphrase safe: without it the data cannot be read.\n", c.repo);
	return EXIT_OK;
}
