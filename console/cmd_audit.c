/*
 * coffer audit init|show|verify|export|checkpoint|seal|prune
 * (docs/format/audit.md); prove and check-proof are in cmd_audit_proof.c.
 *
 * `init` creates the trail in the state directory and shows the initial
 * verification key K(0) once. The readers (show, verify, export) work on
 * an export: a file (--from), assembled from coffer-backupd's pieces
 * (through the daemons), or made from the state directory (direct mode).
 * `verify` is the auditor's offline verifier: it needs nothing but the
 * export, K(0) and any saved checkpoints, and trusts none of the
 * appliance's code paths beyond this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/verify.h"
#include "audit_common.h"
#include "conf/roles.h"
#include "console.h"
#include "crypto/crypto.h"
#include "crypto/pkey.h"
#include "daemon.h"
#include "io/io.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"

#define EXPORT_MAX ((size_t)1 << 31)

static void audit_usage(void)
{
	fprintf(stderr,
		"usage: coffer audit init [--suite international|national] [--epoch-records N]\n"
		"                         [--epoch-seconds T] [--retention-days D]\n"
		"                         [--initial-key-out FILE]\n"
		"       coffer audit show [--since T] [--until T] [--actor U] [--op OP] [--json]\n"
		"                         [--from EXPORT]\n"
		"       coffer audit verify [--initial-key FILE] [--public-key PEM]\n"
		"                           [--checkpoint FILE]... [--from EXPORT]\n"
		"       coffer audit export --to FILE\n"
		"       coffer audit checkpoint --out FILE\n"
		"       coffer audit seal\n"
		"       coffer audit prune --before T\n"
		"       coffer audit prove --seq N --checkpoint CP --out FILE [--from EXPORT]\n"
		"       coffer audit prove --old CP1 --checkpoint CP2 --out FILE [--from EXPORT]\n"
		"       coffer audit check-proof FILE --checkpoint CP [--old CP1] --public-key PEM\n"
		"T is YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]' (local time) or @UNIXSECONDS.\n"
		"init shows K(0), the initial verification key, once: keep it offline; verify\n"
		"needs it to prove that nothing sealed was rewritten. Without --from the\n"
		"trail comes from coffer-backupd (--run-dir DIR or COFFER_RUN_DIR), else from\n"
		"the state directory. verify exits 0 if every check passed, 1 if not.\n"
		"prove writes the proof that entry N is in the tree of checkpoint CP, or that\n"
		"CP2's tree extends CP1's; check-proof checks one with the checkpoints and the\n"
		"trail's public key (sign.pem) only, and exits 0 if it holds, 1 if not.\n");
}

/* ---- arguments ----------------------------------------------------------- */

/* Parses T (see the usage) into Unix seconds; -1 after saying why. */
static int parse_when(const char *opt, const char *s, int64_t *out)
{
	if (s[0] == '@') {
		char *end;
		errno = 0;
		long long v = strtoll(s + 1, &end, 10);
		if (errno == 0 && end != s + 1 && *end == 0) {
			*out = v;
			return 0;
		}
	} else {
		static const char *const forms[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
						     "%Y-%m-%d %H:%M", "%Y-%m-%d" };
		for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
			struct tm tm = { 0 };
			const char *end = strptime(s, forms[i], &tm);
			if (end != NULL && *end == 0) {
				tm.tm_isdst = -1;
				*out = (int64_t)mktime(&tm);
				return 0;
			}
		}
	}
	log_errorx("--%s '%s' is not a time (YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]' or @SECONDS)",
		   opt, s);
	return -1;
}

static int parse_u32_range(const char *opt, const char *s, unsigned lo, unsigned hi,
			   uint32_t *out)
{
	unsigned v;
	if (parse_uint(opt, s, &v) != 0)
		return -1;
	if (v < lo || v > hi) {
		log_errorx("--%s must be between %u and %u", opt, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* -1 to go on, else an exit code. */
static int audit_parse(int argc, char **argv, struct audit_args *a)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "suite", required_argument, NULL, 's' },
		{ "epoch-records", required_argument, NULL, 'n' },
		{ "epoch-seconds", required_argument, NULL, 't' },
		{ "retention-days", required_argument, NULL, 'd' },
		{ "initial-key-out", required_argument, NULL, 'k' },
		{ "initial-key", required_argument, NULL, 'K' },
		{ "public-key", required_argument, NULL, 'p' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 'o' },
		{ "out", required_argument, NULL, 'o' },
		{ "since", required_argument, NULL, 'a' },
		{ "until", required_argument, NULL, 'b' },
		{ "before", required_argument, NULL, 'B' },
		{ "actor", required_argument, NULL, 'u' },
		{ "op", required_argument, NULL, 'O' },
		{ "seq", required_argument, NULL, 'N' },
		{ "old", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	a->until = INT64_MAX;
	a->suite = SUITE_INTERNATIONAL;
	audit_params_default(&a->p);
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&a->c, opt, optarg))
			continue;
		int bad = 0;
		switch (opt) {
		case 's': bad = parse_suite(optarg, &a->suite); break;
		case 'n': bad = parse_u32_range("epoch-records", optarg, 1, 1000000,
						&a->p.epoch_records); break;
		case 't': bad = parse_u32_range("epoch-seconds", optarg, 1, 31 * 86400,
						&a->p.epoch_seconds); break;
		case 'd': bad = parse_u32_range("retention-days", optarg, AUDIT_RETENTION_MIN_DAYS,
						36500, &a->p.retention_days); break;
		case 'k': a->key_out = optarg; break;
		case 'K': a->initial_key = optarg; break;
		case 'p': a->public_key = optarg; break;
		case 'c':
			if (a->n_cps == MAX_CHECKPOINTS) {
				log_errorx("at most %d --checkpoint files", MAX_CHECKPOINTS);
				return EXIT_USAGE;
			}
			a->cps[a->n_cps++] = optarg;
			break;
		case 'f': a->from = optarg; break;
		case 'o': a->to = optarg; break;
		case 'a': bad = parse_when("since", optarg, &a->since); break;
		case 'b': bad = parse_when("until", optarg, &a->until); break;
		case 'B': bad = parse_when("before", optarg, &a->before); a->have_before = true; break;
		case 'u': a->actor = optarg; break;
		case 'O': a->op = optarg; break;
		case 'N': bad = parse_seq(optarg, &a->seq); a->have_seq = true; break;
		case 'L': a->old = optarg; break;
		case 'h': audit_usage(); return EXIT_OK;
		default: audit_usage(); return EXIT_USAGE;
		}
		if (bad)
			return EXIT_USAGE;
	}
	/* check-proof names its proof file; no other command takes an operand. */
	if (strcmp(a->sub, "check-proof") == 0 && argc - optind == 1)
		a->proof = argv[optind++];
	if (argc - optind != 0 || a->c.repo != NULL || a->c.dataset != NULL) {
		audit_usage();
		return EXIT_USAGE;
	}
	return -1;
}

/* ---- getting the trail --------------------------------------------------- */

/* The export assembled from coffer-backupd's AUDIT_READ pieces. */
static int export_from_daemon(const struct common_opts *c, struct buf *out)
{
	struct ipc_client *cl = console_connect(c, "backupd");
	struct buf pem = { 0 }, trail = { 0 };
	struct audit_export_view v = { 0 };
	uint64_t total = 0;
	int rc = -1;
	if (cl == NULL)
		return -1;
	/* The size of the first answer bounds the export: entries are appended whole. */
	for (bool first = true; first || trail.len < total; first = false) {
		struct ipc_writer w;
		struct ipc_msg m;
		struct ipc_reader rd;
		const uint8_t *pp, *dp;
		size_t pn, dn;
		uint64_t now_total;
		ipc_writer_init(&w, IPC_AUDIT_READ, ipc_next_reqid(cl));
		ipc_put_u64(&w, trail.len);
		ipc_put_u32(&w, first ? 0 : (uint32_t)(total - trail.len < 524288
							 ? total - trail.len : 524288));
		int e = console_call(cl, "backupd", &w, &m);
		ipc_writer_fini(&w);
		if (e != 0)
			goto out;
		ipc_reader_init(&rd, &m);
		(void)ipc_get_u32(&rd, &v.suite);
		(void)ipc_get_ref(&rd, &pp, &pn);
		(void)ipc_get_u32(&rd, &v.epoch_records);
		(void)ipc_get_u32(&rd, &v.epoch_seconds);
		(void)ipc_get_u32(&rd, &v.retention_days);
		(void)ipc_get_u64(&rd, &now_total);
		(void)ipc_get_ref(&rd, &dp, &dn);
		if (ipc_end(&rd) != 0) {
			log_errorx("backupd: malformed audit read reply");
			goto out;
		}
		if (first) {
			total = now_total;
			pem.len = 0;
			if (buf_put(&pem, pp, pn) != 0)
				goto nomem;
		} else if (now_total < total) {
			log_errorx("the audit trail shrank while it was read (pruned?): run the "
				   "command again");
			goto out;
		}
		if (dn > total - trail.len)
			dn = (size_t)(total - trail.len);
		if (!first && dn == 0) {
			log_errorx("backupd: the audit trail ended early while it was read");
			goto out;
		}
		if (buf_put(&trail, dp, dn) != 0)
			goto nomem;
	}
	v.pem = pem.data;
	v.pem_len = pem.len;
	v.trail_len = trail.len;
	if (audit_export_header(out, &v) != 0 || buf_put(out, trail.data, trail.len) != 0)
		goto nomem;
	rc = 0;
	goto out;
nomem:
	log_errorx("out of memory reading the audit trail");
out:
	buf_fini(&pem);
	buf_fini(&trail);
	ipc_close(cl);
	return rc;
}

static int open_trail(const struct common_opts *c, struct audit **out)
{
	const char *dir = console_state_dir(c);
	int e = audit_open(dir, out);
	if (e == -ENOENT)
		log_errorx("no audit trail in %s: run 'coffer audit init' first", dir);
	else if (e != 0)
		log_errorx("cannot open the audit trail in %s: %s", dir, coffer_strerror(e));
	return e == 0 ? 0 : -1;
}

/* The export to read: --from, the daemon, or the state directory. -1 after saying why. */
int load_export(const struct audit_args *a, struct buf *out)
{
	if (a->from != NULL) {
		int e = io_read_file_at(AT_FDCWD, a->from, out, EXPORT_MAX);
		if (e != 0)
			log_errorx("cannot read %s: %s", a->from, coffer_strerror(e));
		return e == 0 ? 0 : -1;
	}
	if (console_run_dir(&a->c) != NULL)
		return export_from_daemon(&a->c, out);
	/* Read-only: a reader must see a torn or damaged trail as it is, not mend it. */
	const char *dir = console_state_dir(&a->c);
	int e = audit_export_files(dir, out);
	if (e == -ENOENT)
		log_errorx("no audit trail in %s: run 'coffer audit init' first", dir);
	return e == 0 ? 0 : -1;
}

int parse_export(const struct audit_args *a, const struct buf *b, struct audit_export_view *v)
{
	int e = audit_export_parse(b->data, b->len, v);
	if (e == 0 && suite_by_id(v->suite) == NULL)
		e = -ENOTSUP;
	if (e != 0)
		log_errorx("%s is not a valid audit export%s", a->from ? a->from : "the trail",
			   e == -ENOTSUP ? " (a newer version or unknown suite)"
					 : " (damaged or truncated)");
	return e;
}

/* Writes bytes to a new file (never over an existing one), fsync'd. */
int write_new_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int e = io_create_file_at(AT_FDCWD, path, p, n, mode);
	if (e != 0)
		log_errorx("cannot write %s: %s", path,
			   e == -EEXIST ? "it exists (not overwritten)" : coffer_strerror(e));
	return e == 0 ? 0 : -1;
}

/* Reads the checkpoint file at path into b, parsed into cp (borrowing b). */
int read_checkpoint(const char *path, struct buf *b, struct audit_cp *cp)
{
	int e = io_read_file_at(AT_FDCWD, path, b, 4096);
	if (e == 0)
		e = audit_checkpoint_parse(b->data, b->len, cp);
	if (e != 0)
		log_errorx("%s is not an audit checkpoint: %s", path,
			   e == -EBADMSG ? "damaged" : coffer_strerror(e));
	return e == 0 ? 0 : -1;
}

/* ---- init ----------------------------------------------------------------- */

int console_audit_init(const char *state_dir, uint32_t suite, const struct audit_params *p,
		       const char *key_out, bool quiet)
{
	uint8_t *k0 = secmem_alloc(32);
	char hex[65];
	int rc = -1;
	if (k0 == NULL)
		return -1;
	int e = audit_init(state_dir, suite, p, k0);
	if (e != 0) {
		log_errorx("cannot create the audit trail in %s: %s", state_dir,
			   e == -EEXIST ? "there is one already" : coffer_strerror(e));
		goto out;
	}
	hex_encode(k0, 32, hex);
	hex[64] = '\n';
	if (key_out != NULL) {
		if (write_new_file(key_out, hex, 65, 0600) != 0) {
			log_errorx("the trail exists but K(0) is lost: remove %s/audit and create "
				   "it again", state_dir);
			goto out;
		}
		if (!quiet)
			fprintf(stderr, "audit trail created in %s/audit; its initial verification "
					"key K(0) is in %s: move it offline, it exists nowhere else\n",
				state_dir, key_out);
	} else {
		hex[64] = 0;
		printf("audit trail created in %s/audit\n"
		       "initial verification key K(0) (shown once, keep it offline for the "
		       "auditors):\n%s\n", state_dir, hex);
	}
	rc = 0;
out:
	mem_wipe(hex, sizeof hex);
	secmem_free(k0, 32);
	return rc;
}

/* ---- show ----------------------------------------------------------------- */

static bool field_is(const uint8_t *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

static void print_field(const uint8_t *p, size_t n, int width)
{
	print_escaped(stdout, p, n);
	for (int i = (int)n; i < width; i++)
		putchar(' ');
}

static void json_entry(const struct audit_entry *en, bool *first)
{
	printf("%s{\"seq\":%llu,\"time_ns\":%lld,\"kind\":", *first ? "" : ",\n",
	       (unsigned long long)en->seq, (long long)en->time_ns);
	*first = false;
	if (en->kind == AUDIT_RECORD) {
		printf("\"record\",\"uid\":%u,\"actor\":", en->uid);
		json_string(stdout, en->actor, en->actor_len);
		printf(",\"role\":");
		json_string(stdout, en->role, en->role_len);
		printf(",\"op\":");
		json_string(stdout, en->op, en->op_len);
		printf(",\"target\":");
		json_string(stdout, en->target, en->target_len);
		printf(",\"outcome\":");
		json_string(stdout, en->outcome, en->outcome_len);
		printf(",\"origin\":");
		json_string(stdout, en->origin, en->origin_len);
		printf(",\"params\":");
		json_hex(stdout, en->params, 32);
	} else if (en->kind == AUDIT_SEAL) {
		printf("\"seal\",\"epoch\":%llu,\"tree_size\":%llu,\"root\":",
		       (unsigned long long)en->epoch, (unsigned long long)en->tree_size);
		json_hex(stdout, en->root, 32);
	} else {
		printf("\"anchor\",\"epoch\":%llu,\"reason\":", (unsigned long long)en->epoch);
		json_string(stdout, en->reason, en->reason_len);
	}
	printf("}");
}

static int audit_do_show(struct audit_args *a)
{
	struct buf b = { 0 };
	struct audit_export_view v;
	int rc = EXIT_FAIL;
	bool first = true;
	uint64_t shown = 0;
	if (load_export(a, &b) != 0 || parse_export(a, &b, &v) != 0)
		goto out;
	if (a->c.json)
		printf("[");
	else
		printf("%8s  %-19s  %-12s  %-22s  %-22s  %-24s  %s\n", "SEQ", "TIME", "ACTOR",
		       "ROLE", "OP", "TARGET", "OUTCOME");
	for (size_t off = 0; off < v.trail_len;) {
		struct audit_entry en;
		size_t used;
		if (audit_entry_parse(v.trail + off, v.trail_len - off, &used, &en) != 0) {
			if (a->c.json)
				printf("]\n");
			log_errorx("the trail is damaged at offset %zu: 'coffer audit verify' "
				   "says more", off);
			goto out;
		}
		off += used;
		int64_t sec = en.time_ns / 1000000000;
		if (sec < a->since || sec > a->until)
			continue;
		/* Filters on actor or operation show records only. */
		if ((a->actor || a->op) && en.kind != AUDIT_RECORD)
			continue;
		if (a->op && !field_is(en.op, en.op_len, a->op))
			continue;
		if (a->actor) {
			char uid[16];
			snprintf(uid, sizeof uid, "%u", en.uid);
			if (!field_is(en.actor, en.actor_len, a->actor) && strcmp(uid, a->actor) != 0)
				continue;
		}
		shown++;
		if (a->c.json) {
			json_entry(&en, &first);
			continue;
		}
		char when[32];
		printf("%8llu  %-19s  ", (unsigned long long)en.seq, fmt_time(sec, when, sizeof when));
		if (en.kind == AUDIT_RECORD) {
			print_field(en.actor, en.actor_len, 12);
			printf("  ");
			print_field(en.role, en.role_len, 22);
			printf("  ");
			print_field(en.op, en.op_len, 22);
			printf("  ");
			print_field(en.target, en.target_len, 24);
			printf("  ");
			print_field(en.outcome, en.outcome_len, 0);
			printf("\n");
		} else if (en.kind == AUDIT_SEAL) {
			printf("%-12s  %-22s  seal epoch %llu over %llu entries\n", "-", "-",
			       (unsigned long long)en.epoch, (unsigned long long)en.tree_size);
		} else {
			printf("%-12s  %-22s  anchor: ", "-", "-");
			print_field(en.reason, en.reason_len, 0);
			printf("\n");
		}
	}
	if (a->c.json)
		printf("]\n");
	else if (shown == 0)
		printf("no entries match\n");
	rc = EXIT_OK;
out:
	buf_fini(&b);
	return rc;
}

/* ---- verify --------------------------------------------------------------- */

/* Reads K(0) (64 hex digits and an optional newline) from path. */
static int read_initial_key(const char *path, uint8_t key[32])
{
	struct buf b = { 0 };
	int e = io_read_file_at(AT_FDCWD, path, &b, 256);
	char hex[65] = { 0 };
	if (e != 0) {
		log_errorx("cannot read %s: %s", path, coffer_strerror(e));
		return -1;
	}
	size_t n = b.len;
	while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'))
		n--;
	if (n == 64)
		memcpy(hex, b.data, 64);
	e = n == 64 ? hex_decode(hex, key, 32) : -EINVAL;
	mem_wipe(b.data, b.len);
	mem_wipe(hex, sizeof hex);
	buf_fini(&b);
	if (e != 0)
		log_errorx("%s does not hold an initial key (64 hex digits, as 'coffer audit "
			   "init' wrote it)", path);
	return e == 0 ? 0 : -1;
}

static int audit_do_verify(struct audit_args *a)
{
	struct buf b = { 0 }, pinned = { 0 }, cpb[MAX_CHECKPOINTS] = { { 0 } };
	struct audit_cp cps[MAX_CHECKPOINTS];
	struct audit_export_view v;
	struct audit_verify_result res;
	struct pkey *pub = NULL;
	uint8_t *k0 = secmem_alloc(32), fp[32];
	char fph[65];
	int rc = EXIT_FAIL;
	if (k0 == NULL)
		goto out;
	if (a->initial_key != NULL && read_initial_key(a->initial_key, k0) != 0)
		goto out;
	for (size_t i = 0; i < a->n_cps; i++)
		if (read_checkpoint(a->cps[i], &cpb[i], &cps[i]) != 0)
			goto out;
	if (load_export(a, &b) != 0 || parse_export(a, &b, &v) != 0)
		goto out;
	/* The key in the export is the appliance's word; a pinned one is the auditor's. */
	if (a->public_key != NULL) {
		int e = io_read_file_at(AT_FDCWD, a->public_key, &pinned, 8192);
		if (e != 0) {
			log_errorx("cannot read %s: %s", a->public_key, coffer_strerror(e));
			goto out;
		}
		if (pinned.len != v.pem_len || memcmp(pinned.data, v.pem, v.pem_len) != 0) {
			printf("FAILED: the export is signed by another key than %s\n",
			       a->public_key);
			goto out;
		}
	}
	if (pkey_from_public_pem(v.pem, v.pem_len, PKEY_SIGN, &pub) != 0 ||
	    pkey_suite(pub) != v.suite) {
		printf("FAILED: the export's signing key is not a %s signing key\n",
		       suite_name(suite_by_id(v.suite)));
		goto out;
	}
	(void)pkey_fingerprint(pub, fp);
	hex_encode(fp, 32, fph);
	struct audit_verify_opts o = { .suite = v.suite,
				       .initial_key = a->initial_key ? k0 : NULL,
				       .pub = pub, .cps = cps, .n_cps = a->n_cps };
	int e = audit_verify(v.trail, v.trail_len, &o, &res);
	if (e == -ENOMEM) {
		log_errorx("out of memory verifying the trail");
		goto out;
	}
	if (a->c.json) {
		printf("{\"ok\":%s,\"entries\":%llu,\"records\":%llu,\"seals\":%llu,"
		       "\"first_seq\":%llu,\"sealed_up_to\":%llu,\"unsealed\":%llu,"
		       "\"checkpoints\":%llu,\"mac_checked\":%s,\"signing_key\":\"%s\",\"root\":",
		       e == 0 ? "true" : "false", (unsigned long long)res.entries,
		       (unsigned long long)res.records, (unsigned long long)res.seals,
		       (unsigned long long)res.first_seq, (unsigned long long)res.sealed_up_to,
		       (unsigned long long)res.unsealed, (unsigned long long)res.cps_checked,
		       a->initial_key ? "true" : "false", fph);
		json_hex(stdout, res.root, 32);
		if (e != 0) {
			printf(",\"bad_seq\":%llu,\"bad_offset\":%llu,\"why\":",
			       (unsigned long long)res.bad_seq, (unsigned long long)res.bad_offset);
			json_cstr(stdout, res.why);
		}
		printf("}\n");
	} else if (e != 0) {
		printf("FAILED at seq %llu (offset %llu): %s\n", (unsigned long long)res.bad_seq,
		       (unsigned long long)res.bad_offset, res.why);
	} else {
		char root[65];
		hex_encode(res.root, 32, root);
		printf("OK: %llu entries (seq %llu to %llu), %llu records, %llu seals; the first "
		       "%llu entries sealed, %llu records after the last seal\n",
		       (unsigned long long)res.entries, (unsigned long long)res.first_seq,
		       (unsigned long long)(res.first_seq + res.entries - (res.entries > 0)),
		       (unsigned long long)res.records, (unsigned long long)res.seals,
		       (unsigned long long)res.sealed_up_to, (unsigned long long)res.unsealed);
		printf("seal MACs: %s\n", a->initial_key ? "checked from K(0)"
							  : "NOT checked (no --initial-key)");
		printf("checkpoints: %llu consistent\n", (unsigned long long)res.cps_checked);
		printf("signing key: %s%s\ntree head: %s\n", fph,
		       a->public_key ? " (pinned)" : " (from the export)", root);
	}
	rc = e == 0 ? EXIT_OK : EXIT_FAIL;
out:
	pkey_free(pub);
	secmem_free(k0, 32);
	for (size_t i = 0; i < a->n_cps; i++)
		buf_fini(&cpb[i]);
	buf_fini(&pinned);
	buf_fini(&b);
	return rc;
}

/* ---- export, checkpoint, seal, prune -------------------------------------- */

static int audit_do_export(struct audit_args *a)
{
	struct buf b = { 0 };
	struct audit_export_view v;
	int rc = EXIT_FAIL;
	if (a->to == NULL) {
		log_errorx("give the file to write with --to FILE");
		return EXIT_USAGE;
	}
	if (load_export(a, &b) == 0 && parse_export(a, &b, &v) == 0 &&
	    write_new_file(a->to, b.data, b.len, 0644) == 0) {
		if (!a->c.quiet)
			printf("exported %zu bytes of audit trail to %s\n", v.trail_len, a->to);
		rc = EXIT_OK;
	}
	buf_fini(&b);
	return rc;
}

/* Sends a request without arguments to backupd; reply in *m. */
static int simple_call(const struct audit_args *a, uint16_t type, struct ipc_client **cl,
		       struct ipc_msg *m, int64_t arg, bool with_arg)
{
	struct ipc_writer w;
	if ((*cl = console_connect(&a->c, "backupd")) == NULL)
		return -1;
	ipc_writer_init(&w, type, ipc_next_reqid(*cl));
	if (with_arg)
		ipc_put_i64(&w, arg);
	int e = console_call(*cl, "backupd", &w, m);
	ipc_writer_fini(&w);
	return e == 0 ? 0 : -1;
}

static int audit_do_checkpoint(struct audit_args *a)
{
	struct buf cp = { 0 };
	struct ipc_client *cl = NULL;
	struct audit_cp parsed;
	int rc = EXIT_FAIL;
	if (a->to == NULL) {
		log_errorx("give the file to write with --out FILE");
		return EXIT_USAGE;
	}
	if (console_run_dir(&a->c) != NULL) {
		struct ipc_msg m;
		struct ipc_reader rd;
		const uint8_t *p;
		size_t n;
		if (simple_call(a, IPC_AUDIT_CHECKPOINT, &cl, &m, 0, false) != 0)
			goto out;
		ipc_reader_init(&rd, &m);
		if (ipc_get_ref(&rd, &p, &n) != 0 || buf_put(&cp, p, n) != 0)
			goto out;
	} else {
		struct audit *t;
		if (open_trail(&a->c, &t) != 0)
			goto out;
		int e = audit_checkpoint(t, &cp);
		audit_close(t);
		if (e != 0) {
			log_errorx("cannot make a checkpoint: %s",
				   e == -EPERM ? "the audit signing key is not readable here"
					       : coffer_strerror(e));
			goto out;
		}
	}
	if (audit_checkpoint_parse(cp.data, cp.len, &parsed) != 0) {
		log_errorx("the checkpoint received is malformed");
		goto out;
	}
	if (write_new_file(a->to, cp.data, cp.len, 0644) != 0)
		goto out;
	if (!a->c.quiet) {
		char root[65];
		hex_encode(parsed.root, 32, root);
		printf("checkpoint of %llu entries, tree head %s, written to %s: keep it off "
		       "the appliance\n", (unsigned long long)parsed.size, root, a->to);
	}
	rc = EXIT_OK;
out:
	ipc_close(cl);
	buf_fini(&cp);
	return rc;
}

/* This process's user, for records written in direct mode. */
static void who_am_i(struct audit_record *r, char *name, size_t size)
{
	user_name(getuid(), name, size);
	r->uid = (uint32_t)getuid();
	r->actor = name;
	r->role = "console (direct)";
	r->target = "";
	r->origin = "console";
}

static int audit_do_seal_or_prune(struct audit_args *a, bool prune)
{
	struct ipc_client *cl = NULL;
	uint64_t removed = 0;
	int rc = EXIT_FAIL;
	if (prune && !a->have_before) {
		log_errorx("give the cut with --before T");
		return EXIT_USAGE;
	}
	if (console_run_dir(&a->c) != NULL) {
		struct ipc_msg m;
		if (simple_call(a, prune ? IPC_AUDIT_PRUNE : IPC_AUDIT_SEAL, &cl, &m, a->before,
				prune) != 0)
			goto out;
		if (prune) {
			struct ipc_reader rd;
			ipc_reader_init(&rd, &m);
			(void)ipc_get_u64(&rd, &removed);
		}
	} else {
		struct audit *t;
		struct audit_record who = { 0 };
		char name[65];
		if (open_trail(&a->c, &t) != 0)
			goto out;
		who_am_i(&who, name, sizeof name);
		int e = prune ? audit_prune(t, a->before, &who, &removed) : audit_seal(t, true);
		audit_close(t);
		if (e != 0) {
			/* audit_prune says why it refused. */
			if (e != -EPERM)
				log_errorx("cannot %s the audit trail: %s", prune ? "prune" : "seal",
					   coffer_strerror(e));
			goto out;
		}
	}
	if (!a->c.quiet) {
		if (prune)
			printf("pruned %llu entries\n", (unsigned long long)removed);
		else
			printf("audit trail sealed\n");
	}
	rc = EXIT_OK;
out:
	ipc_close(cl);
	return rc;
}

int cmd_audit(int argc, char **argv)
{
	struct audit_args *a = calloc(1, sizeof *a);
	int rc;
	if (a == NULL)
		return EXIT_FAIL;
	if (argc < 2 || argv[1][0] == '-') {
		audit_usage();
		rc = argc >= 2 && strcmp(argv[1], "--help") == 0 ? EXIT_OK : EXIT_USAGE;
		goto out;
	}
	a->sub = argv[1];
	if ((rc = audit_parse(argc - 1, argv + 1, a)) >= 0)
		goto out;
	/* init always works on the state directory: the daemons refuse to run without a trail. */
	if (strcmp(a->sub, "init") == 0)
		rc = console_audit_init(console_state_dir(&a->c), a->suite, &a->p, a->key_out,
					a->c.quiet) == 0 ? EXIT_OK : EXIT_FAIL;
	else if (strcmp(a->sub, "show") == 0)
		rc = audit_do_show(a);
	else if (strcmp(a->sub, "verify") == 0)
		rc = audit_do_verify(a);
	else if (strcmp(a->sub, "export") == 0)
		rc = audit_do_export(a);
	else if (strcmp(a->sub, "checkpoint") == 0)
		rc = audit_do_checkpoint(a);
	else if (strcmp(a->sub, "seal") == 0)
		rc = audit_do_seal_or_prune(a, false);
	else if (strcmp(a->sub, "prune") == 0)
		rc = audit_do_seal_or_prune(a, true);
	else if (strcmp(a->sub, "prove") == 0)
		rc = audit_do_prove(a);
	else if (strcmp(a->sub, "check-proof") == 0)
		rc = audit_do_check_proof(a);
	else {
		log_errorx("unknown audit command '%s'", a->sub);
		audit_usage();
		rc = EXIT_USAGE;
	}
out:
	free(a);
	return rc;
}
