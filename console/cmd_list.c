/*
 * coffer snapshots, coffer ls, coffer stats: read-only listings.
 * snapshots --dataset NAME goes through coffer-backupd when there are
 * daemons (daemon.h); the others read the repository directly.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "console.h"
#include "daemon.h"
#include "repo/maint.h"
#include "util/hex.h"
#include "util/log.h"

/* Parses only the common options; returns -1 on a usage error, 1 for --help. */
static int parse_common(int argc, char **argv, struct common_opts *c, const char *usage)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(c, opt, optarg))
			continue;
		fprintf(stderr, "usage: %s\n", usage);
		return opt == 'h' ? 1 : -1;
	}
	if (common_require_target(c, argv[0]) != 0) {
		fprintf(stderr, "usage: %s\n", usage);
		return -1;
	}
	return 0;
}

static void json_strings(FILE *f, char *const *s, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		json_cstr(f, s[i]);
	}
	fputc(']', f);
}

static void snapshot_json(FILE *f, const uint8_t id[32], const struct snapshot *s)
{
	const struct snapshot_stats *st = &s->stats;
	fprintf(f, "{\"id\":");
	json_hex(f, id, 32);
	fprintf(f, ",\"time\":%lld.%09u,\"hostname\":", (long long)s->time.sec, s->time.nsec);
	json_cstr(f, s->hostname);
	fprintf(f, ",\"username\":");
	json_cstr(f, s->username);
	fprintf(f, ",\"uid\":%u,\"gid\":%u,\"paths\":", s->uid, s->gid);
	json_strings(f, s->paths, s->n_paths);
	fprintf(f, ",\"tags\":");
	json_strings(f, s->tags, s->n_tags);
	fprintf(f, ",\"source\":");
	json_cstr(f, s->source);
	fprintf(f, ",\"dataset\":");
	json_cstr(f, s->dataset);
	fprintf(f, ",\"program\":");
	json_cstr(f, s->program);
	fprintf(f, ",\"tree\":");
	json_hex(f, s->tree, 32);
	fprintf(f, ",\"parent\":");
	if (s->has_parent)
		json_hex(f, s->parent, 32);
	else
		fprintf(f, "null");
	fprintf(f, ",\"stats\":{\"files\":%llu,\"dirs\":%llu,\"others\":%llu,\"bytes\":%llu,"
		   "\"bytes_read\":%llu,\"blobs_added\":%llu,\"bytes_added\":%llu,"
		   "\"stored_added\":%llu,\"errors\":%llu,\"duration_ns\":%llu}}",
		(unsigned long long)st->files, (unsigned long long)st->dirs,
		(unsigned long long)st->others, (unsigned long long)st->bytes,
		(unsigned long long)st->bytes_read, (unsigned long long)st->blobs_added,
		(unsigned long long)st->bytes_added, (unsigned long long)st->stored_added,
		(unsigned long long)st->errors, (unsigned long long)st->duration_ns);
}

/* The fields coffer-backupd's listing carries, under snapshot_json's names. */
static void snapshot_json_brief(FILE *f, const uint8_t id[32], const struct snapshot *s)
{
	fprintf(f, "{\"id\":");
	json_hex(f, id, 32);
	fprintf(f, ",\"time\":%lld,\"hostname\":", (long long)s->time.sec);
	json_cstr(f, s->hostname);
	fprintf(f, ",\"paths\":");
	json_strings(f, s->paths, s->n_paths);
	fprintf(f, ",\"tags\":");
	json_strings(f, s->tags, s->n_tags);
	fprintf(f, ",\"dataset\":");
	json_cstr(f, s->dataset);
	fprintf(f, ",\"parent\":");
	if (s->has_parent)
		json_hex(f, s->parent, 32);
	else
		fprintf(f, "null");
	fprintf(f, ",\"stats\":{\"files\":%llu,\"bytes\":%llu}}",
		(unsigned long long)s->stats.files, (unsigned long long)s->stats.bytes);
}

/*
 * Prints a snapshot listing, oldest first, as text or JSON. full: the
 * entries were read from the repository; otherwise they came from
 * coffer-backupd, which sends only the ID, time, host, paths, tags,
 * files, bytes and parent, and JSON leaves out the fields it lacks.
 */
static void snapshots_print(const struct common_opts *c, const struct snapshot_entry *e,
			    size_t n, bool full)
{
	if (c->json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			if (i)
				printf(",\n");
			if (full)
				snapshot_json(stdout, e[i].id, &e[i].snap);
			else
				snapshot_json_brief(stdout, e[i].id, &e[i].snap);
		}
		printf("]\n");
		return;
	}
	printf("%-8s  %-19s  %-12s  %-10s  %s\n", "ID", "Time", "Host", "Size", "Paths");
	for (size_t i = 0; i < n; i++) {
		const struct snapshot *s = &e[i].snap;
		char id[65], t[64], sz[32];
		hex_encode(e[i].id, 32, id);
		id[8] = 0;
		printf("%-8s  %-19s  %-12s  %-10s  ", id, fmt_time(s->time.sec, t, sizeof t),
		       s->hostname, fmt_bytes(s->stats.bytes, sz, sizeof sz));
		for (size_t j = 0; j < s->n_paths; j++)
			printf("%s%s", j ? " " : "", s->paths[j]);
		for (size_t j = 0; j < s->n_tags; j++)
			printf("%s%s", j ? "," : "  [tags: ", s->tags[j]);
		printf("%s\n", s->n_tags ? "]" : "");
	}
	printf("%zu snapshot%s\n", n, n == 1 ? "" : "s");
}

/* Splits n bytes of p at sep into a new string vector (none for n == 0). */
static int split_strv(const uint8_t *p, size_t n, char sep, char ***out, size_t *count)
{
	char **v = NULL;
	size_t k = 0;
	*out = NULL;
	*count = 0;
	for (size_t i = 0; n > 0 && i <= n;) {
		const uint8_t *end = memchr(p + i, sep, n - i);
		size_t len = end != NULL ? (size_t)(end - (p + i)) : n - i;
		char **nv = realloc(v, (k + 1) * sizeof *nv);
		if (nv == NULL || (nv[k] = strndup((const char *)p + i, len)) == NULL) {
			v = nv != NULL ? nv : v;
			for (size_t j = 0; j < k; j++)
				free(v[j]);
			free(v);
			return -ENOMEM;
		}
		v = nv;
		k++;
		i += len + 1;
	}
	*out = v;
	*count = k;
	return 0;
}

/*
 * The snapshots of c->dataset as coffer-backupd lists them, into entries
 * like repo_snapshot_list's (free with snapshot_entries_free). The daemon
 * joins paths with newlines and tags with commas. 0, or -1 after saying why.
 */
static int snapshots_from_daemon(const struct common_opts *c, struct snapshot_entry **out,
				 size_t *count)
{
	struct ipc_client *cl = console_connect(c, "backupd");
	struct ipc_writer w;
	struct ipc_msg m;
	struct snapshot_entry *v = NULL;
	uint32_t n = 0;
	int rc = -1;
	if (cl == NULL)
		return -1;
	ipc_writer_init(&w, IPC_SNAPSHOTS, ipc_next_reqid(cl));
	ipc_put_str(&w, c->dataset);
	if (console_call(cl, "backupd", &w, &m) != 0)
		goto out;
	struct ipc_reader rd;
	ipc_reader_init(&rd, &m);
	(void)ipc_get_list(&rd, &n);
	v = calloc(n ? n : 1, sizeof *v);
	if (v == NULL)
		goto nomem;
	for (uint32_t i = 0; i < n; i++) {
		struct snapshot *s = &v[i].snap;
		char id[65] = "", host[257] = "", parent[65] = "";
		const uint8_t *paths = NULL, *tags = NULL;
		size_t paths_len = 0, tags_len = 0;
		snapshot_init(s);
		(void)ipc_get_str(&rd, id, sizeof id);
		(void)ipc_get_i64(&rd, &s->time.sec);
		(void)ipc_get_ref(&rd, &paths, &paths_len);
		(void)ipc_get_ref(&rd, &tags, &tags_len);
		(void)ipc_get_str(&rd, host, sizeof host);
		(void)ipc_get_u64(&rd, &s->stats.files);
		(void)ipc_get_u64(&rd, &s->stats.bytes);
		(void)ipc_get_str(&rd, parent, sizeof parent);
		if (hex_decode(id, v[i].id, 32) != 0) {
			log_errorx("coffer-backupd sent a bad snapshot ID '%.64s'", id);
			goto out;
		}
		s->has_parent = parent[0] != 0 && hex_decode(parent, s->parent, 32) == 0;
		s->dataset = strdup(c->dataset);
		s->hostname = strdup(host);
		if (s->dataset == NULL || s->hostname == NULL ||
		    split_strv(paths, paths_len, '\n', &s->paths, &s->n_paths) != 0 ||
		    split_strv(tags, tags_len, ',', &s->tags, &s->n_tags) != 0)
			goto nomem;
	}
	if (ipc_end(&rd) != 0) {
		log_errorx("malformed snapshot listing from coffer-backupd");
		goto out;
	}
	*out = v;
	*count = n;
	v = NULL;
	rc = 0;
	goto out;
nomem:
	log_errorx("out of memory reading the snapshot listing");
out:
	/* calloc'd: entries not reached yet are empty snapshots. */
	snapshot_entries_free(v, v != NULL ? n : 0);
	ipc_writer_fini(&w);
	ipc_close(cl);
	return rc;
}

int cmd_snapshots(int argc, char **argv)
{
	struct common_opts c = { 0 };
	struct snapshot_entry *e;
	size_t n, bad;
	int p = parse_common(argc, argv, &c, "coffer snapshots (--repo DIR | --dataset NAME) [--json]");
	if (p != 0)
		return p > 0 ? EXIT_OK : EXIT_USAGE;
	if (c.dataset != NULL && console_run_dir(&c) != NULL) {
		if (snapshots_from_daemon(&c, &e, &n) != 0)
			return EXIT_FAIL;
		snapshots_print(&c, e, n, false);
		snapshot_entries_free(e, n);
		return EXIT_OK;
	}
	struct repo *r = console_open_repo(&c);
	if (r == NULL)
		return EXIT_FAIL;
	int rc = repo_snapshot_list(r, &e, &n, &bad);
	if (rc != 0) {
		log_errorx("cannot list snapshots: %s", coffer_strerror(rc));
		repo_close(r);
		return EXIT_FAIL;
	}
	snapshots_print(&c, e, n, true);
	snapshot_entries_free(e, n);
	repo_close(r);
	return bad ? EXIT_FAIL : EXIT_OK;
}

static const char *node_type_name(uint8_t t)
{
	static const char *names[] = { "?", "file", "dir", "symlink", "fifo", "chardev",
				       "blockdev", "socket" };
	return t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static void mode_string(const struct node *n, char out[11])
{
	static const char types[] = "?-dlpcbs";
	out[0] = types[n->type < 8 ? n->type : 0];
	const char *rwx = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[1 + i] = (n->mode & (0400u >> i)) ? rwx[i] : '-';
	if (n->mode & S_ISUID) out[3] = (n->mode & 0100) ? 's' : 'S';
	if (n->mode & S_ISGID) out[6] = (n->mode & 0010) ? 's' : 'S';
	if (n->mode & S_ISVTX) out[9] = (n->mode & 0001) ? 't' : 'T';
	out[10] = 0;
}

struct ls_walk {
	struct repo *r;
	bool json;
	int errors;
};

static void ls_print(struct ls_walk *w, const struct node *n, const struct buf *path)
{
	if (w->json) {
		printf("{\"path\":");
		json_string(stdout, path->data, path->len);
		printf(",\"type\":\"%s\",\"mode\":%u,\"uid\":%u,\"gid\":%u,\"user\":",
		       node_type_name(n->type), n->mode, n->uid, n->gid);
		json_cstr(stdout, n->user);
		printf(",\"group\":");
		json_cstr(stdout, n->group);
		printf(",\"size\":%llu,\"mtime\":%lld.%09u", (unsigned long long)n->size,
		       (long long)n->mtime.sec, n->mtime.nsec);
		if (n->type == NODE_SYMLINK) {
			printf(",\"link\":");
			json_string(stdout, n->link, n->link_len);
		}
		printf("}\n");
		return;
	}
	char m[11], t[64];
	mode_string(n, m);
	printf("%s %-8s %-8s %12llu %s ", m, *n->user ? n->user : "-",
	       *n->group ? n->group : "-", (unsigned long long)n->size,
	       fmt_time(n->mtime.sec, t, sizeof t));
	print_escaped(stdout, path->data, path->len);
	if (n->type == NODE_SYMLINK) {
		printf(" -> ");
		print_escaped(stdout, n->link, n->link_len);
	}
	printf("\n");
}

/* Prints every node below tree id; path holds the directory's path. */
static void ls_tree(struct ls_walk *w, const uint8_t id[32], struct buf *path)
{
	struct tree t = { 0 };
	int e = repo_tree_load(w->r, id, &t);
	if (e != 0) {
		fprintf(stderr, "coffer: error: cannot read directory ");
		print_escaped(stderr, path->data, path->len);
		fprintf(stderr, ": %s\n", coffer_strerror(e));
		w->errors++;
		return;
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct node *n = &t.nodes[i];
		size_t saved = path->len;
		if (saved != 1)
			(void)buf_put_u8(path, '/');
		(void)buf_put(path, n->name, n->name_len);
		ls_print(w, n, path);
		if (n->type == NODE_DIR)
			ls_tree(w, n->subtree, path);
		path->len = saved;
	}
	tree_fini(&t);
}

/*
 * Finds the node at an absolute path in the snapshot; *dir_id receives the
 * tree to list (the node's subtree for a directory). Returns 0, 1 if the
 * node is not a directory (it is printed alone), or a negative errno.
 */
static int ls_find(struct ls_walk *w, const struct snapshot *s, const char *want,
		   struct buf *path, uint8_t dir_id[32])
{
	memcpy(dir_id, s->tree, 32);
	const char *p = want;
	while (*p == '/')
		p++;
	while (*p) {
		size_t len = strcspn(p, "/");
		struct tree t = { 0 };
		int e = repo_tree_load(w->r, dir_id, &t);
		if (e != 0)
			return e;
		const struct node *n = tree_find(&t, (const uint8_t *)p, len);
		if (n == NULL) {
			tree_fini(&t);
			return -ENOENT;
		}
		if (path->len != 1)
			(void)buf_put_u8(path, '/');
		(void)buf_put(path, p, len);
		p += len;
		while (*p == '/')
			p++;
		if (n->type != NODE_DIR) {
			if (*p) {
				tree_fini(&t);
				return -ENOTDIR;
			}
			ls_print(w, n, path);
			tree_fini(&t);
			return 1;
		}
		if (!*p)
			ls_print(w, n, path);
		memcpy(dir_id, n->subtree, 32);
		tree_fini(&t);
	}
	return 0;
}

int cmd_ls(int argc, char **argv)
{
	static const char *usage = "coffer ls (--repo DIR | --dataset NAME) [--json] SNAP [PATH]";
	struct common_opts c = { 0 };
	static const struct option longopts[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (!common_opt(&c, opt, optarg)) {
			fprintf(stderr, "usage: %s\n", usage);
			return opt == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	int nargs = argc - optind;
	if (common_require_target(&c, "ls") != 0 || nargs < 1 || nargs > 2) {
		fprintf(stderr, "usage: %s\n", usage);
		return EXIT_USAGE;
	}
	struct repo *r = console_open_repo(&c);
	if (r == NULL)
		return EXIT_FAIL;
	int rc = EXIT_FAIL;
	struct snapshot s;
	uint8_t id[32], dir[32];
	struct buf path = { 0 };
	struct ls_walk w = { .r = r, .json = c.json };
	snapshot_init(&s);
	int e = repo_load_index(r);
	if (e != 0 && e != -EBADMSG)
		goto out;
	if (console_load_snapshot(r, argv[optind], id, &s) != 0)
		goto out;
	(void)buf_put_u8(&path, '/');
	e = nargs == 2 ? ls_find(&w, &s, argv[optind + 1], &path, dir) : 0;
	if (nargs == 1)
		memcpy(dir, s.tree, 32);
	if (e < 0) {
		log_errorx("%s: %s", argv[optind + 1],
			   e == -ENOENT ? "no such path in the snapshot" : coffer_strerror(e));
		goto out;
	}
	if (e == 0)
		ls_tree(&w, dir, &path);
	rc = w.errors ? EXIT_FAIL : EXIT_OK;
out:
	buf_fini(&path);
	snapshot_fini(&s);
	repo_close(r);
	return rc;
}

int cmd_stats(int argc, char **argv)
{
	struct common_opts c = { 0 };
	int p = parse_common(argc, argv, &c, "coffer stats (--repo DIR | --dataset NAME) [--json]");
	if (p != 0)
		return p > 0 ? EXIT_OK : EXIT_USAGE;
	struct repo *r = console_open_repo(&c);
	if (r == NULL)
		return EXIT_FAIL;
	struct repo_stats st = { 0 };
	int e = repo_load_index(r);
	if (e == 0)
		e = repo_stats(r, &st);
	repo_close(r);
	if (e != 0) {
		log_errorx("cannot compute statistics: %s", coffer_strerror(e));
		return EXIT_FAIL;
	}
	if (c.json) {
		printf("{\"snapshots\":%llu,\"logical_bytes\":%llu,\"unique_bytes\":%llu,"
		       "\"stored_bytes\":%llu,\"packs\":%llu,\"data_blobs\":%llu,"
		       "\"tree_blobs\":%llu,\"index_files\":%llu,\"dedup_ratio\":%.4f,"
		       "\"compression_ratio\":%.4f,\"delta_blobs\":%llu,"
		       "\"delta_saved_bytes\":%llu}\n",
		       (unsigned long long)st.snapshots, (unsigned long long)st.logical_bytes,
		       (unsigned long long)st.unique_bytes, (unsigned long long)st.stored_bytes,
		       (unsigned long long)st.packs, (unsigned long long)st.data_blobs,
		       (unsigned long long)st.tree_blobs, (unsigned long long)st.index_files,
		       st.dedup_ratio, st.compression_ratio, (unsigned long long)st.delta_blobs,
		       (unsigned long long)st.delta_saved_bytes);
		return EXIT_OK;
	}
	char b1[32], b2[32], b3[32];
	printf("snapshots:          %llu\n", (unsigned long long)st.snapshots);
	printf("logical size:       %s (all snapshots' files)\n",
	       fmt_bytes(st.logical_bytes, b1, sizeof b1));
	printf("unique data:        %s\n", fmt_bytes(st.unique_bytes, b2, sizeof b2));
	printf("stored size:        %s in %llu packs\n", fmt_bytes(st.stored_bytes, b3, sizeof b3),
	       (unsigned long long)st.packs);
	printf("blobs:              %llu data, %llu trees\n", (unsigned long long)st.data_blobs,
	       (unsigned long long)st.tree_blobs);
	printf("dedup ratio:        %.2fx\n", st.dedup_ratio);
	printf("compression ratio:  %.2fx\n", st.compression_ratio);
	/* Saved: each delta's reconstructed length minus its stored length. */
	printf("delta blobs:        %llu, saving %s\n", (unsigned long long)st.delta_blobs,
	       fmt_bytes(st.delta_saved_bytes, b1, sizeof b1));
	return EXIT_OK;
}
