/*
 * coffer approver add|list|revoke and coffer erase request|show|approve|list
 * (docs/format/erase.md). Everything goes through coffer-erased, which
 * alone holds the registry and the requests. The one thing done here is
 * signing with --key: the private key is read and used in this process
 * and never sent anywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "approval/certificate.h"
#include "console.h"
#include "crypto/pkey.h"
#include "daemon.h"
#include "io/io.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"

#define KEY_FILE_MAX 65536
#define SIG_FILE_MAX 1024

static void approver_usage(void)
{
	fprintf(stderr,
		"usage: coffer approver add NAME --pubkey FILE --role approver|supervisor "
		"[--user LOGIN]\n"
		"       coffer approver list [--json]\n"
		"       coffer approver revoke NAME\n"
		"Approvers sign destruction requests (docs/format/erase.md). The key is an\n"
		"Ed25519 or SM2 public key in PEM; LOGIN (default NAME) is their login here:\n"
		"a requester can never count as an approver of their own request.\n");
}

static void erase_usage(void)
{
	fprintf(stderr,
		"usage: coffer erase request --dataset NAME [--snapshot ID]... --reason TEXT\n"
		"                            --legal-basis TEXT [--statement-out FILE]\n"
		"       coffer erase request --device /dev/X --level N --reason TEXT --legal-basis TEXT\n"
		"       coffer erase device /dev/X --request REQ [--method zero|random|bmb21|purge]\n"
		"       coffer erase show REQ [--json]\n"
		"       coffer erase approve REQ --key PRIVATE_KEY.pem\n"
		"       coffer erase approve REQ --signature FILE --approver NAME\n"
		"       coffer erase execute REQ [--method zero|random|bmb21]\n"
		"       coffer erase certificate REQ [--format text|json|pdf] [--out FILE]\n"
		"       coffer erase verify-certificate FILE --public-key PEM\n"
		"       coffer erase list [--json]\n"
		"A request names what is destroyed and why; M approvers and the supervisor\n"
		"sign its statement (written to REQ.statement). To sign offline:\n"
		"  openssl pkeyutl -sign -rawin -inkey KEY.pem -in REQ.statement -out REQ.sig\n"
		"(SM2 keys: add -pkeyopt distid:1234567812345678).\n");
}

struct er_args {
	struct common_opts c;
	const char *pubkey, *role, *user, *reason, *legal, *statement_out;
	const char *key, *signature, *approver, *method, *format, *out;
	const char *device, *request;
	unsigned level;
	bool have_level;
	const char **snapshots;
	size_t n_snapshots;
	const char *arg; /* NAME or REQ */
};

static int er_parse(int argc, char **argv, struct er_args *a, bool want_arg,
		    void (*usage)(void))
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "pubkey", required_argument, NULL, 'k' },
		{ "role", required_argument, NULL, 'o' },
		{ "user", required_argument, NULL, 'u' },
		{ "snapshot", required_argument, NULL, 's' },
		{ "reason", required_argument, NULL, 'w' },
		{ "legal-basis", required_argument, NULL, 'L' },
		{ "statement-out", required_argument, NULL, 'O' },
		{ "key", required_argument, NULL, 'K' },
		{ "signature", required_argument, NULL, 'g' },
		{ "approver", required_argument, NULL, 'a' },
		{ "method", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' + 256 },
		{ "public-key", required_argument, NULL, 'k' },
		{ "device", required_argument, NULL, 'd' + 256 },
		{ "level", required_argument, NULL, 'l' + 256 },
		{ "request", required_argument, NULL, 'R' + 256 },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&a->c, opt, optarg))
			continue;
		switch (opt) {
		case 'k': a->pubkey = optarg; break;
		case 'o': a->role = optarg; break;
		case 'u': a->user = optarg; break;
		case 's': {
			const char **v = realloc(a->snapshots, (a->n_snapshots + 1) * sizeof *v);
			if (v == NULL)
				return EXIT_FAIL;
			a->snapshots = v;
			v[a->n_snapshots++] = optarg;
			break;
		}
		case 'w': a->reason = optarg; break;
		case 'L': a->legal = optarg; break;
		case 'O': a->statement_out = optarg; break;
		case 'K': a->key = optarg; break;
		case 'g': a->signature = optarg; break;
		case 'a': a->approver = optarg; break;
		case 'm': a->method = optarg; break;
		case 'f': a->format = optarg; break;
		case 'o' + 256: a->out = optarg; break;
		case 'd' + 256: a->device = optarg; break;
		case 'R' + 256: a->request = optarg; break;
		case 'l' + 256:
			if (parse_uint("level", optarg, &a->level))
				return EXIT_USAGE;
			a->have_level = true;
			break;
		case 'h': usage(); return EXIT_OK;
		default: usage(); return EXIT_USAGE;
		}
	}
	if (argc - optind != (want_arg ? 1 : 0)) {
		usage();
		return EXIT_USAGE;
	}
	if (want_arg)
		a->arg = argv[optind];
	return -1;
}

/* A call to coffer-erased; the reply in *m, valid while *cl is open. */
static int erased_call(const struct er_args *a, struct ipc_client **cl, struct ipc_writer *w,
		       struct ipc_msg *m)
{
	if (console_run_dir(&a->c) == NULL) {
		log_errorx("destruction goes through coffer-erased, and no daemon runs here "
			   "(start them, or give --run-dir DIR)");
		return -1;
	}
	if ((*cl = console_connect(&a->c, "erased")) == NULL)
		return -1;
	return console_call(*cl, "erased", w, m) == 0 ? 0 : -1;
}

/* A request of type with no field, or with one string (arg not NULL); reply in *m. */
static int erased_call_simple(const struct er_args *a, uint16_t type, const char *arg,
			      struct ipc_client **cl, struct ipc_msg *m)
{
	struct ipc_writer w;
	ipc_writer_init(&w, type, 1);
	if (arg != NULL)
		ipc_put_str(&w, arg);
	int e = erased_call(a, cl, &w, m);
	ipc_writer_fini(&w);
	return e;
}

/* One approver of the APPROVER_LIST reply. */
struct approver_item {
	char name[33], role[17], user[65], suite[17], fp[65], by[65], rby[65];
	int64_t added, revoked;
};

static void read_approver(struct ipc_reader *rd, struct approver_item *it)
{
	(void)ipc_get_str(rd, it->name, sizeof it->name);
	(void)ipc_get_str(rd, it->role, sizeof it->role);
	(void)ipc_get_str(rd, it->user, sizeof it->user);
	(void)ipc_get_str(rd, it->suite, sizeof it->suite);
	(void)ipc_get_str(rd, it->fp, sizeof it->fp);
	(void)ipc_get_i64(rd, &it->added);
	(void)ipc_get_str(rd, it->by, sizeof it->by);
	(void)ipc_get_i64(rd, &it->revoked);
	(void)ipc_get_str(rd, it->rby, sizeof it->rby);
}

static int read_file(const char *path, const char *what, size_t max, struct buf *out)
{
	int e = io_read_file_at(AT_FDCWD, path, out, max);
	if (e != 0)
		log_errorx("cannot read the %s %s: %s", what, path, coffer_strerror(e));
	return e;
}

/* ---- coffer approver -------------------------------------------------------- */

static int approver_add(struct er_args *a)
{
	struct buf pem = { 0 };
	struct ipc_client *cl = NULL;
	struct ipc_writer w;
	struct ipc_msg m;
	int rc = EXIT_FAIL;
	if (a->pubkey == NULL || a->role == NULL) {
		log_errorx("approver add needs --pubkey FILE and --role approver|supervisor");
		return EXIT_USAGE;
	}
	if (read_file(a->pubkey, "public key", KEY_FILE_MAX, &pem) != 0)
		return EXIT_FAIL;
	ipc_writer_init(&w, IPC_APPROVER_ADD, 1);
	ipc_put_str(&w, a->arg);
	ipc_put_str(&w, a->role);
	ipc_put_str(&w, a->user);
	ipc_put_strn(&w, (const char *)pem.data, pem.len);
	if (erased_call(a, &cl, &w, &m) == 0) {
		struct ipc_reader rd;
		char suite[17] = "", fp[65] = "";
		ipc_reader_init(&rd, &m);
		(void)ipc_get_str(&rd, suite, sizeof suite);
		(void)ipc_get_str(&rd, fp, sizeof fp);
		if (!a->c.quiet)
			printf("registered %s '%s' (%s key, fingerprint %s)\n", a->role, a->arg,
			       suite, fp);
		rc = EXIT_OK;
	}
	ipc_writer_fini(&w);
	ipc_close(cl);
	buf_fini(&pem);
	return rc;
}

static int approver_list(struct er_args *a)
{
	struct ipc_client *cl = NULL;
	struct ipc_msg m;
	int rc = EXIT_FAIL;
	if (erased_call_simple(a, IPC_APPROVER_LIST, NULL, &cl, &m) == 0) {
		struct ipc_reader rd;
		uint32_t n = 0;
		ipc_reader_init(&rd, &m);
		(void)ipc_get_list(&rd, &n);
		if (a->c.json)
			printf("[");
		else if (n == 0)
			printf("no approvers are registered\n");
		for (uint32_t i = 0; i < n; i++) {
			struct approver_item it;
			char t1[32], t2[32];
			read_approver(&rd, &it);
			if (a->c.json) {
				printf("%s{\"name\":", i ? "," : "");
				json_cstr(stdout, it.name);
				printf(",\"role\":\"%s\",\"user\":", it.role);
				json_cstr(stdout, it.user);
				printf(",\"suite\":\"%s\",\"fingerprint\":\"%s\",\"added\":%lld,"
				       "\"added_by\":", it.suite, it.fp, (long long)it.added);
				json_cstr(stdout, it.by);
				printf(",\"revoked\":%lld,\"revoked_by\":", (long long)it.revoked);
				json_cstr(stdout, it.rby);
				printf("}");
			} else {
				printf("%-16s %-10s %-13s %.16s  added %s by %s", it.name, it.role, it.suite,
				       it.fp, fmt_time(it.added, t1, sizeof t1), it.by);
				if (it.revoked)
					printf(", REVOKED %s by %s", fmt_time(it.revoked, t2, sizeof t2),
					       it.rby);
				printf("\n");
			}
		}
		if (a->c.json)
			printf("]\n");
		rc = EXIT_OK;
	}
	ipc_close(cl);
	return rc;
}

static int approver_revoke(struct er_args *a)
{
	struct ipc_client *cl = NULL;
	struct ipc_msg m;
	int rc = EXIT_FAIL;
	if (erased_call_simple(a, IPC_APPROVER_REVOKE, a->arg, &cl, &m) == 0) {
		if (!a->c.quiet)
			printf("approver '%s' revoked: none of their signatures counts any more\n",
			       a->arg);
		rc = EXIT_OK;
	}
	ipc_close(cl);
	return rc;
}

int cmd_approver(int argc, char **argv)
{
	struct er_args a = { 0 };
	if (argc < 2 || argv[1][0] == '-') {
		approver_usage();
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? EXIT_OK : EXIT_USAGE;
	}
	const char *sub = argv[1];
	bool list = strcmp(sub, "list") == 0;
	if (!list && strcmp(sub, "add") != 0 && strcmp(sub, "revoke") != 0) {
		log_errorx("unknown approver command '%s'", sub);
		approver_usage();
		return EXIT_USAGE;
	}
	int rc = er_parse(argc - 1, argv + 1, &a, !list, approver_usage);
	if (rc < 0)
		rc = list ? approver_list(&a) : strcmp(sub, "add") == 0 ? approver_add(&a)
									 : approver_revoke(&a);
	free(a.snapshots);
	return rc;
}

/* ---- coffer erase ------------------------------------------------------------- */

static int erase_request(struct er_args *a)
{
	struct ipc_client *cl = NULL;
	struct ipc_writer w;
	struct ipc_msg m;
	int rc = EXIT_FAIL;
	if ((a->c.dataset == NULL) == (a->device == NULL) || a->reason == NULL || a->legal == NULL ||
	    (a->device != NULL && (!a->have_level || a->n_snapshots > 0))) {
		log_errorx("erase request needs --dataset NAME [--snapshot ID]..., or --device PATH "
			   "--level N, and --reason TEXT and --legal-basis TEXT");
		return EXIT_USAGE;
	}
	if (a->device != NULL) {
		ipc_writer_init(&w, IPC_ERASE_REQUEST_DEVICE, 1);
		ipc_put_str(&w, a->device);
		ipc_put_u32(&w, a->level);
	} else {
		ipc_writer_init(&w, IPC_ERASE_REQUEST, 1);
		ipc_put_str(&w, a->c.dataset);
		ipc_put_list(&w, (uint32_t)a->n_snapshots);
		for (size_t i = 0; i < a->n_snapshots; i++)
			ipc_put_str(&w, a->snapshots[i]);
	}
	ipc_put_str(&w, a->reason);
	ipc_put_str(&w, a->legal);
	if (erased_call(a, &cl, &w, &m) == 0) {
		struct ipc_reader rd;
		char id[33] = "", digest[65] = "", statement[161] = "", path[4200], t[32];
		int64_t expires = 0;
		ipc_reader_init(&rd, &m);
		(void)ipc_get_str(&rd, id, sizeof id);
		(void)ipc_get_str(&rd, digest, sizeof digest);
		(void)ipc_get_str(&rd, statement, sizeof statement);
		(void)ipc_get_i64(&rd, &expires);
		snprintf(path, sizeof path, "%s", a->statement_out ? a->statement_out : id);
		if (a->statement_out == NULL)
			strncat(path, ".statement", sizeof path - strlen(path) - 1);
		int e = io_create_file_at(AT_FDCWD, path, statement, strlen(statement), 0644);
		if (e != 0)
			log_errorx("cannot write the statement to %s: %s (it is in 'coffer erase "
				   "show %s')", path, coffer_strerror(e), id);
		if (a->c.json) {
			printf("{\"request\":\"%s\",\"digest\":\"%s\",\"expires\":%lld,"
			       "\"statement_file\":", id, digest, (long long)expires);
			json_cstr(stdout, e == 0 ? path : "");
			printf("}\n");
		} else if (!a->c.quiet) {
			printf("request %s\ndigest %s\nexpires %s\n", id, digest,
			       fmt_time(expires, t, sizeof t));
			if (e == 0)
				printf("the statement to sign is in %s\n", path);
		} else {
			printf("%s\n", id);
		}
		rc = e == 0 ? EXIT_OK : EXIT_FAIL;
	}
	ipc_writer_fini(&w);
	ipc_close(cl);
	return rc;
}

/* The show reply, read once for printing and for signing. */
struct shown {
	char id[33], state[17], suite[17], requester[65], dataset[65], dataset_id[33];
	char level_name[33], scope[17], repo[4097], keyset[33], reason[1025], legal[1025];
	char missing[513], digest[65], statement[161];
	int64_t since, created, expires;
	uint32_t requester_uid, level, approvals, needed, supervisors;
	uint64_t packs, files, bytes;
	uint8_t met;
	/* The execution, when one began (has_execution). */
	bool has_execution;
	int64_t x_started, x_finished, x_shredded;
	char x_executor[65], x_method[17], x_result[1025], x_phase[129];
	uint64_t x_files, x_bytes, x_direct, x_done, x_total;
};

static void read_quorum(struct ipc_reader *rd, struct shown *s)
{
	(void)ipc_get_u32(rd, &s->approvals);
	(void)ipc_get_u32(rd, &s->needed);
	(void)ipc_get_u32(rd, &s->supervisors);
	(void)ipc_get_u8(rd, &s->met);
	(void)ipc_get_str(rd, s->missing, sizeof s->missing);
}

/* Prints as it reads (the lists are printed in place); print false only reads. */
static void read_show(struct ipc_reader *rd, struct shown *s, bool print, bool json)
{
	char t[32], t2[32], b[32];
	uint32_t n = 0;
	(void)ipc_get_str(rd, s->id, sizeof s->id);
	(void)ipc_get_str(rd, s->state, sizeof s->state);
	(void)ipc_get_i64(rd, &s->since);
	(void)ipc_get_str(rd, s->suite, sizeof s->suite);
	(void)ipc_get_i64(rd, &s->created);
	(void)ipc_get_i64(rd, &s->expires);
	(void)ipc_get_str(rd, s->requester, sizeof s->requester);
	(void)ipc_get_u32(rd, &s->requester_uid);
	(void)ipc_get_str(rd, s->dataset, sizeof s->dataset);
	(void)ipc_get_str(rd, s->dataset_id, sizeof s->dataset_id);
	(void)ipc_get_u32(rd, &s->level);
	(void)ipc_get_str(rd, s->level_name, sizeof s->level_name);
	(void)ipc_get_str(rd, s->scope, sizeof s->scope);
	if (print && json) {
		printf("{\"request\":\"%s\",\"state\":\"%s\",\"since\":%lld,\"suite\":\"%s\","
		       "\"created\":%lld,\"expires\":%lld,\"requester\":", s->id, s->state,
		       (long long)s->since, s->suite, (long long)s->created, (long long)s->expires);
		json_cstr(stdout, s->requester);
		printf(",\"requester_uid\":%u,\"dataset\":", s->requester_uid);
		json_cstr(stdout, s->dataset);
		printf(",\"dataset_id\":\"%s\",\"level\":%u,\"level_name\":", s->dataset_id, s->level);
		json_cstr(stdout, s->level_name);
		printf(",\"scope\":\"%s\",\"snapshots\":[", s->scope);
	} else if (print) {
		printf("request     %s (%s since %s)\n", s->id, s->state, fmt_time(s->since, t, sizeof t));
		printf("requested   by %s (uid %u) at %s; expires %s\n", s->requester,
		       s->requester_uid, fmt_time(s->created, t, sizeof t),
		       fmt_time(s->expires, t2, sizeof t2));
		printf("dataset     %s (ID %s), level %u (%s), %s suite\n", s->dataset, s->dataset_id,
		       s->level, s->level_name, s->suite);
		printf("scope       %s\n", strcmp(s->scope, "dataset") == 0
						 ? "the whole dataset, every snapshot and every copy"
						 : "these snapshots:");
	}
	(void)ipc_get_list(rd, &n);
	for (uint32_t i = 0; i < n; i++) {
		char id[65];
		(void)ipc_get_str(rd, id, sizeof id);
		if (print && json)
			printf("%s\"%s\"", i ? "," : "", id);
		else if (print)
			printf("            snapshot %s\n", id);
	}
	(void)ipc_get_str(rd, s->repo, sizeof s->repo);
	(void)ipc_get_u64(rd, &s->packs);
	(void)ipc_get_u64(rd, &s->files);
	(void)ipc_get_u64(rd, &s->bytes);
	(void)ipc_get_str(rd, s->keyset, sizeof s->keyset);
	if (print && json) {
		printf("],\"repository\":");
		json_cstr(stdout, s->repo);
		printf(",\"packs\":%llu,\"files\":%llu,\"bytes\":%llu,\"keyset\":\"%s\",\"sites\":[",
		       (unsigned long long)s->packs, (unsigned long long)s->files,
		       (unsigned long long)s->bytes, s->keyset);
	} else if (print) {
		printf("repository  %s\n            %llu packs, %llu files, %s\n", s->repo,
		       (unsigned long long)s->packs, (unsigned long long)s->files,
		       fmt_bytes(s->bytes, b, sizeof b));
		printf("key set     %s (crypto-shredded first)\n", s->keyset);
	}
	(void)ipc_get_list(rd, &n);
	for (uint32_t i = 0; i < n; i++) {
		char site[129];
		(void)ipc_get_str(rd, site, sizeof site);
		if (print && json) {
			printf("%s", i ? "," : "");
			json_cstr(stdout, site);
		} else if (print) {
			printf("site        %s\n", site);
		}
	}
	(void)ipc_get_str(rd, s->reason, sizeof s->reason);
	(void)ipc_get_str(rd, s->legal, sizeof s->legal);
	if (print && json) {
		printf("],\"reason\":");
		json_cstr(stdout, s->reason);
		printf(",\"legal_basis\":");
		json_cstr(stdout, s->legal);
		printf(",\"approvals\":[");
	} else if (print) {
		printf("reason      %s\nlegal basis %s\n", s->reason, s->legal);
	}
	(void)ipc_get_list(rd, &n);
	for (uint32_t i = 0; i < n; i++) {
		char who[33], role[17], why[257];
		int64_t time;
		uint32_t by;
		uint8_t counts;
		(void)ipc_get_str(rd, who, sizeof who);
		(void)ipc_get_str(rd, role, sizeof role);
		(void)ipc_get_i64(rd, &time);
		(void)ipc_get_u32(rd, &by);
		(void)ipc_get_u8(rd, &counts);
		(void)ipc_get_str(rd, why, sizeof why);
		if (print && json) {
			printf("%s{\"approver\":", i ? "," : "");
			json_cstr(stdout, who);
			printf(",\"role\":\"%s\",\"time\":%lld,\"by_uid\":%u,\"counts\":%s,\"why\":",
			       role, (long long)time, by, counts ? "true" : "false");
			json_cstr(stdout, why);
			printf("}");
		} else if (print) {
			printf("approval    %s (%s) at %s: %s%s\n", who, role, fmt_time(time, t, sizeof t),
			       counts ? "counts" : "does not count: ", counts ? "" : why);
		}
	}
	read_quorum(rd, s);
	(void)ipc_get_str(rd, s->digest, sizeof s->digest);
	(void)ipc_get_str(rd, s->statement, sizeof s->statement);
	(void)ipc_get_list(rd, &n);
	s->has_execution = n == 1;
	if (s->has_execution) {
		(void)ipc_get_i64(rd, &s->x_started);
		(void)ipc_get_i64(rd, &s->x_finished);
		(void)ipc_get_str(rd, s->x_executor, sizeof s->x_executor);
		(void)ipc_get_str(rd, s->x_method, sizeof s->x_method);
		(void)ipc_get_i64(rd, &s->x_shredded);
		(void)ipc_get_u64(rd, &s->x_files);
		(void)ipc_get_u64(rd, &s->x_bytes);
		(void)ipc_get_u64(rd, &s->x_direct);
		(void)ipc_get_str(rd, s->x_result, sizeof s->x_result);
		(void)ipc_get_str(rd, s->x_phase, sizeof s->x_phase);
		(void)ipc_get_u64(rd, &s->x_done);
		(void)ipc_get_u64(rd, &s->x_total);
	}
	if (print && json) {
		printf("],\"approvals_counted\":%u,\"approvals_needed\":%u,\"supervisors\":%u,"
		       "\"quorum\":%s,\"missing\":", s->approvals, s->needed, s->supervisors,
		       s->met ? "true" : "false");
		json_cstr(stdout, s->missing);
		printf(",\"digest\":\"%s\",\"execution\":", s->digest);
		if (!s->has_execution) {
			printf("null}\n");
			return;
		}
		printf("{\"started\":%lld,\"finished\":%lld,\"executor\":", (long long)s->x_started,
		       (long long)s->x_finished);
		json_cstr(stdout, s->x_executor);
		printf(",\"method\":\"%s\",\"shredded\":%lld,\"files\":%llu,\"bytes\":%llu,"
		       "\"direct_files\":%llu,\"result\":", s->x_method, (long long)s->x_shredded,
		       (unsigned long long)s->x_files, (unsigned long long)s->x_bytes,
		       (unsigned long long)s->x_direct);
		json_cstr(stdout, s->x_result);
		printf(",\"phase\":");
		json_cstr(stdout, s->x_phase);
		printf("}}\n");
	} else if (print) {
		printf("quorum      %u of %u approvals, %s\n", s->approvals, s->needed,
		       s->supervisors ? "supervisor's given" : "supervisor's missing");
		if (strcmp(s->state, "pending") == 0)
			printf("%s %s\n", s->met ? "complete   " : "missing    ",
			       s->met ? "(coffer erase execute may run)" : s->missing);
		printf("digest      %s\n", s->digest);
		if (s->has_execution) {
			printf("executed    by %s from %s with %s overwrite%s%s\n", s->x_executor,
			       fmt_time(s->x_started, t, sizeof t), s->x_method,
			       s->x_finished ? ", ended " : "",
			       s->x_finished ? fmt_time(s->x_finished, t2, sizeof t2) : "");
			printf("            key set %s; %llu files, %s overwritten and verified\n",
			       s->x_shredded ? "destroyed" : "not yet destroyed",
			       (unsigned long long)s->x_files, fmt_bytes(s->x_bytes, b, sizeof b));
			if (s->x_result[0])
				printf("result      %s\n", s->x_result);
			if (s->x_phase[0])
				printf("now         %s\n", s->x_phase);
		}
	}
}

static int erase_show(struct er_args *a, struct shown *s, bool print)
{
	struct ipc_client *cl = NULL;
	struct ipc_msg m;
	int rc = EXIT_FAIL;
	if (erased_call_simple(a, IPC_ERASE_SHOW, a->arg, &cl, &m) == 0) {
		struct ipc_reader rd;
		ipc_reader_init(&rd, &m);
		read_show(&rd, s, print, a->c.json);
		rc = EXIT_OK;
	}
	ipc_close(cl);
	return rc;
}

/*
 * --key: the approver is found by the key's fingerprint in the registry,
 * and the statement the daemon shows is signed here.
 */
static int sign_with_key(struct er_args *a, const char *statement, struct buf *sig,
			 char name[33])
{
	struct buf pem = { 0 };
	struct pkey *k = NULL;
	uint8_t fp[32];
	char fphex[65];
	int rc = -1;
	if (read_file(a->key, "private key", KEY_FILE_MAX, &pem) != 0)
		return -1;
	if (pkey_from_private_pem(pem.data, pem.len, PKEY_SIGN, &k) != 0 ||
	    pkey_fingerprint(k, fp) != 0) {
		log_errorx("%s is not an Ed25519 or SM2 private key in PEM", a->key);
		goto out;
	}
	hex_encode(fp, 32, fphex);
	struct ipc_client *cl = NULL;
	struct ipc_msg m;
	name[0] = 0;
	if (erased_call_simple(a, IPC_APPROVER_LIST, NULL, &cl, &m) == 0) {
		struct ipc_reader rd;
		uint32_t n = 0;
		ipc_reader_init(&rd, &m);
		(void)ipc_get_list(&rd, &n);
		for (uint32_t i = 0; i < n; i++) {
			struct approver_item it;
			read_approver(&rd, &it);
			if (strcmp(it.fp, fphex) == 0)
				snprintf(name, 33, "%s", it.name);
		}
		if (name[0] == 0)
			log_errorx("the key in %s (fingerprint %s) belongs to no registered approver",
				   a->key, fphex);
	}
	ipc_close(cl);
	if (name[0] == 0)
		goto out;
	if (pkey_sign(k, statement, strlen(statement), sig) != 0) {
		log_errorx("signing with %s failed", a->key);
		goto out;
	}
	rc = 0;
out:
	pkey_free(k);
	mem_wipe(pem.data, pem.cap); /* a private key's PEM */
	buf_fini(&pem);
	return rc;
}

static int erase_approve(struct er_args *a)
{
	struct shown s;
	struct buf sig = { 0 };
	char name[33] = "";
	int rc = EXIT_FAIL;
	if ((a->key == NULL) == (a->signature == NULL) ||
	    (a->signature != NULL && a->approver == NULL)) {
		log_errorx("erase approve needs either --key FILE, or --signature FILE and "
			   "--approver NAME");
		return EXIT_USAGE;
	}
	if (a->key != NULL) {
		if (erase_show(a, &s, false) != EXIT_OK ||
		    sign_with_key(a, s.statement, &sig, name) != 0)
			goto out;
	} else {
		if (read_file(a->signature, "signature", SIG_FILE_MAX, &sig) != 0)
			goto out;
		snprintf(name, sizeof name, "%s", a->approver);
	}
	struct ipc_client *cl = NULL;
	struct ipc_writer w;
	struct ipc_msg m;
	ipc_writer_init(&w, IPC_ERASE_APPROVE, 1);
	ipc_put_str(&w, a->arg);
	ipc_put_str(&w, name);
	ipc_put_bytes(&w, sig.data, sig.len);
	if (erased_call(a, &cl, &w, &m) == 0) {
		struct ipc_reader rd;
		ipc_reader_init(&rd, &m);
		read_quorum(&rd, &s);
		if (!a->c.quiet)
			printf("approval by '%s' accepted: %u of %u approvals, %s%s%s\n", name,
			       s.approvals, s.needed,
			       s.supervisors ? "supervisor's given" : "supervisor's missing",
			       s.met ? "; the quorum is complete" : "; missing: ",
			       s.met ? "" : s.missing);
		rc = EXIT_OK;
	}
	ipc_writer_fini(&w);
	ipc_close(cl);
out:
	buf_fini(&sig);
	return rc;
}

/*
 * Starts the execution, then follows it through erase show until it is
 * done or fails: progress on a terminal. Interrupting the console does not
 * stop the destruction.
 */
static int erase_execute(struct er_args *a)
{
	struct ipc_client *cl = NULL;
	struct ipc_writer w;
	struct ipc_msg m;
	char method[17] = "";
	ipc_writer_init(&w, IPC_ERASE_EXECUTE, 1);
	ipc_put_str(&w, a->arg);
	ipc_put_str(&w, a->method);
	int e = erased_call(a, &cl, &w, &m);
	if (e == 0) {
		struct ipc_reader rd;
		ipc_reader_init(&rd, &m);
		(void)ipc_get_str(&rd, method, sizeof method);
	}
	ipc_writer_fini(&w);
	ipc_close(cl);
	if (e != 0)
		return EXIT_FAIL;
	if (!a->c.quiet && !a->c.json)
		printf("destruction %s started (%s overwrite); following it\n", a->arg, method);
	bool show = progress_enabled(&a->c);
	uint64_t start = console_now_ns();
	unsigned wait_ms = 200;
	for (;;) {
		struct shown s;
		if (erase_show(a, &s, false) != EXIT_OK)
			return EXIT_FAIL;
		bool done = strcmp(s.state, "done") == 0;
		bool failed = s.has_execution && s.x_phase[0] == 0 &&
			      strncmp(s.x_result, "failed", 6) == 0;
		if (done || failed) {
			if (show)
				progress_clear();
			if (a->c.json)
				(void)erase_show(a, &s, true);
			else if (!a->c.quiet)
				printf("%s\n", s.x_result);
			if (failed)
				log_errorx("destruction %s stopped: %s", a->arg, s.x_result);
			return done ? EXIT_OK : EXIT_FAIL;
		}
		if (show && s.has_execution && s.x_phase[0])
			progress_line(s.x_phase, s.x_files, "files", s.x_done, s.x_total, 0, start);
		/* Each look is a request, and recorded: look less often as it goes on (to 5 s). */
		struct timespec ts = { (time_t)(wait_ms / 1000), (long)(wait_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
		if (wait_ms < 5000)
			wait_ms = wait_ms * 3 / 2 < 5000 ? wait_ms * 3 / 2 : 5000;
	}
}

/*
 * coffer erase device PATH --request REQ: the execution of an approved
 * device request, named by the device too, so that the operator at the
 * console says which medium is destroyed and the daemon checks it is the
 * one approved.
 */
static int erase_device(struct er_args *a)
{
	struct shown s;
	if (a->request == NULL) {
		log_errorx("erase device needs --request REQ: the approved request for %s (coffer "
			   "erase request --device %s --level N ...)", a->arg, a->arg);
		return EXIT_USAGE;
	}
	const char *path = a->arg;
	a->arg = a->request;
	if (erase_show(a, &s, false) != EXIT_OK)
		return EXIT_FAIL;
	if (strcmp(s.scope, "device") != 0 || strcmp(s.dataset, path) != 0) {
		log_errorx("request %s is not for device %s (it names %s '%s')", a->request, path,
			   s.scope, s.dataset);
		return EXIT_FAIL;
	}
	return erase_execute(a);
}

static int erase_certificate(struct er_args *a)
{
	struct ipc_client *cl = NULL;
	struct ipc_msg m;
	int rc = EXIT_FAIL;
	const char *format = a->format != NULL ? a->format : "text";
	bool pdf = strcmp(format, "pdf") == 0;
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 && !pdf) {
		log_errorx("--format is text (the signed certificate), json or pdf");
		return EXIT_USAGE;
	}
	if (erased_call_simple(a, IPC_ERASE_CERTIFICATE, a->arg, &cl, &m) == 0) {
		struct ipc_reader rd;
		const uint8_t *p;
		size_t n;
		struct buf json = { 0 };
		ipc_reader_init(&rd, &m);
		if (ipc_get_ref(&rd, &p, &n) == 0 &&
		    (strcmp(format, "text") == 0 ||
		     (pdf ? cert_to_pdf(p, n, &json) : cert_to_json(p, n, &json)) == 0)) {
			const uint8_t *outp = json.len ? json.data : p;
			size_t outn = json.len ? json.len : n;
			if (a->out != NULL) {
				int e = io_create_file_at(AT_FDCWD, a->out, outp, outn, 0644);
				if (e != 0)
					log_errorx("cannot write %s: %s", a->out, coffer_strerror(e));
				else
					rc = EXIT_OK;
			} else {
				rc = fwrite(outp, 1, outn, stdout) == outn ? EXIT_OK : EXIT_FAIL;
			}
		} else {
			log_errorx("coffer-erased sent a malformed certificate");
		}
		buf_fini(&json);
	}
	ipc_close(cl);
	return rc;
}

/* Offline: the file and the appliance's public key, nothing else. */
static int erase_verify_certificate(struct er_args *a)
{
	struct buf b = { 0 };
	struct pkey *pub = NULL;
	struct cert_summary sum;
	char why[512] = "";
	int rc = EXIT_FAIL;
	if (a->pubkey == NULL) {
		log_errorx("verify-certificate needs --public-key PEM (the appliance key: "
			   "STATE_DIR/audit/sign.pem, as the auditors keep it)");
		return EXIT_USAGE;
	}
	if (read_file(a->arg, "certificate", 1 << 20, &b) != 0 ||
	    console_load_public_key(a->pubkey, PKEY_SIGN, "appliance key", &pub) != 0)
		goto out;
	int e = cert_verify(b.data, b.len, pub, &sum, why, sizeof why);
	if (e == 0) {
		printf("OK: certificate %s: dataset '%s' destroyed, finished %s\n", sum.id,
		       sum.dataset, sum.finished);
		printf("signed by the appliance key; %u of %u approvals and the supervisor's "
		       "verify against the request it carries\n", sum.approvers, sum.needed);
		rc = EXIT_OK;
	} else {
		printf("FAILED: %s\n", why[0] ? why : coffer_strerror(e));
	}
out:
	pkey_free(pub);
	buf_fini(&b);
	return rc;
}

static int erase_list(struct er_args *a)
{
	struct ipc_client *cl = NULL;
	struct ipc_msg m;
	int rc = EXIT_FAIL;
	if (erased_call_simple(a, IPC_ERASE_LIST, NULL, &cl, &m) == 0) {
		struct ipc_reader rd;
		uint32_t n = 0;
		ipc_reader_init(&rd, &m);
		(void)ipc_get_list(&rd, &n);
		if (a->c.json)
			printf("[");
		else if (n == 0)
			printf("no destruction requests\n");
		for (uint32_t i = 0; i < n; i++) {
			char id[33], state[17], ds[65], scope[17], who[65], t[32];
			int64_t created, expires;
			uint8_t met;
			(void)ipc_get_str(&rd, id, sizeof id);
			(void)ipc_get_str(&rd, state, sizeof state);
			(void)ipc_get_str(&rd, ds, sizeof ds);
			(void)ipc_get_str(&rd, scope, sizeof scope);
			(void)ipc_get_i64(&rd, &created);
			(void)ipc_get_i64(&rd, &expires);
			(void)ipc_get_str(&rd, who, sizeof who);
			(void)ipc_get_u8(&rd, &met);
			if (a->c.json) {
				printf("%s{\"request\":\"%s\",\"state\":\"%s\",\"dataset\":", i ? "," : "",
				       id, state);
				json_cstr(stdout, ds);
				printf(",\"scope\":\"%s\",\"created\":%lld,\"expires\":%lld,"
				       "\"requester\":", scope, (long long)created, (long long)expires);
				json_cstr(stdout, who);
				printf(",\"quorum\":%s}", met ? "true" : "false");
			} else {
				printf("%s  %-9s %-16s %-9s by %-12s %s%s\n", id, state, ds, scope, who,
				       fmt_time(created, t, sizeof t), met ? "  quorum complete" : "");
			}
		}
		if (a->c.json)
			printf("]\n");
		rc = EXIT_OK;
	}
	ipc_close(cl);
	return rc;
}

int cmd_erase(int argc, char **argv)
{
	struct er_args a = { 0 };
	if (argc < 2 || argv[1][0] == '-') {
		erase_usage();
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? EXIT_OK : EXIT_USAGE;
	}
	const char *sub = argv[1];
	bool takes_req = strcmp(sub, "show") == 0 || strcmp(sub, "approve") == 0 ||
			 strcmp(sub, "execute") == 0 || strcmp(sub, "certificate") == 0 ||
			 strcmp(sub, "device") == 0 ||
			 strcmp(sub, "verify-certificate") == 0;
	if (!takes_req && strcmp(sub, "request") != 0 && strcmp(sub, "list") != 0) {
		log_errorx("unknown erase command '%s'", sub);
		erase_usage();
		return EXIT_USAGE;
	}
	int rc = er_parse(argc - 1, argv + 1, &a, takes_req, erase_usage);
	if (rc < 0) {
		struct shown s;
		if (strcmp(sub, "request") == 0)
			rc = erase_request(&a);
		else if (strcmp(sub, "show") == 0)
			rc = erase_show(&a, &s, true);
		else if (strcmp(sub, "approve") == 0)
			rc = erase_approve(&a);
		else if (strcmp(sub, "execute") == 0)
			rc = erase_execute(&a);
		else if (strcmp(sub, "certificate") == 0)
			rc = erase_certificate(&a);
		else if (strcmp(sub, "device") == 0)
			rc = erase_device(&a);
		else if (strcmp(sub, "verify-certificate") == 0)
			rc = erase_verify_certificate(&a);
		else
			rc = erase_list(&a);
	}
	free(a.snapshots);
	return rc;
}
