/*
 * The message protocol: every schema is well formed and each request has
 * a reply; every message type round-trips through the writer, the frame
 * checks and the reader with values at their limits; a frame cut at any
 * byte, with a byte added, with a length or count one over its limit, a
 * NUL in a string, another version or an unknown type is refused; the
 * writer refuses fields out of schema order, missing fields and
 * oversized values; and the client reassembles frames a server sends one
 * byte at a time, maps error replies, and times out.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc/client.h"
#include "ipc/ipc.h"

#include "../testutil.h"

/* Puts a value for every field of s: strings of length fill(max), lists of fill(max) items. */
static void put_field(struct ipc_writer *w, const struct ipc_field *f, uint32_t seed, bool full)
{
	static char big[524289];
	if (big[0] == 0)
		memset(big, 'x', sizeof big - 1);
	size_t n = full ? f->max : seed % 7;
	switch (f->kind) {
	case IPC_U8: ipc_put_u8(w, (uint8_t)(seed * 31 + 7)); break;
	case IPC_U32: ipc_put_u32(w, seed * 2654435761u); break;
	case IPC_U64: ipc_put_u64(w, (uint64_t)seed << 40 | 0x1234); break;
	case IPC_I64: ipc_put_i64(w, -(int64_t)seed * 1000003); break;
	case IPC_STR: ipc_put_strn(w, big, n); break;
	case IPC_BYTES: ipc_put_bytes(w, big, n); break;
	case IPC_LIST: break;
	}
}

/* Builds a message of schema s; full: every string and list at its maximum that fits a frame. */
static int build(const struct ipc_schema *s, struct ipc_writer *w, bool full, uint32_t items)
{
	ipc_writer_init(w, s->type, 77);
	for (size_t i = 0; i < s->n; i++) {
		const struct ipc_field *f = &s->fields[i];
		if (f->kind != IPC_LIST) {
			put_field(w, f, (uint32_t)i + 1, full);
			continue;
		}
		uint32_t count = items < f->max ? items : f->max;
		ipc_put_list(w, count);
		for (uint32_t k = 0; k < count; k++)
			for (size_t j = 0; j < f->n_item; j++)
				put_field(w, &f->item[j], k + (uint32_t)j, false);
	}
	return ipc_writer_finish(w);
}

static void test_schemas_well_formed(void **state)
{
	(void)state;
	size_t n = 0;
	for (const struct ipc_schema *s; (s = ipc_schema_at(n)) != NULL; n++) {
		assert_ptr_equal(ipc_schema(s->type), s); /* types are unique */
		assert_non_null(s->name);
		for (size_t i = 0; i < s->n; i++) {
			const struct ipc_field *f = &s->fields[i];
			assert_non_null(f->name);
			if (f->kind == IPC_STR || f->kind == IPC_BYTES || f->kind == IPC_LIST)
				assert_true(f->max > 0);
			if (f->kind == IPC_LIST) {
				assert_true(f->n_item > 0);
				for (size_t j = 0; j < f->n_item; j++)
					assert_int_not_equal(f->item[j].kind, IPC_LIST);
			}
		}
		/* Every request has a reply; every reply a request. */
		bool event = s->type >= 0x4000 && s->type < IPC_REPLY;
		if (s->type != IPC_ERROR && !event) {
			uint16_t other = s->type ^ IPC_REPLY;
			assert_non_null(ipc_schema(other));
		}
	}
	assert_true(n > 30);
	assert_null(ipc_schema(0x1234));
	assert_string_equal(ipc_type_name(IPC_BACKUP), "backup");
	assert_string_equal(ipc_type_name(0x1234), "unknown");
}

static void test_round_trip_every_type(void **state)
{
	(void)state;
	for (size_t i = 0; ipc_schema_at(i) != NULL; i++) {
		const struct ipc_schema *s = ipc_schema_at(i);
		for (int full = 0; full < 2; full++) {
			struct ipc_writer w;
			int e = build(s, &w, full, full ? 3 : 2);
			/* A schema whose maxima exceed a frame is allowed; then only the small one. */
			if (full && e == -EMSGSIZE) {
				ipc_writer_fini(&w);
				continue;
			}
			assert_int_equal(e, 0);
			struct ipc_msg m;
			char why[200] = "";
			assert_int_equal(ipc_decode(w.b.data, w.b.len, &m, why, sizeof why), 0);
			assert_int_equal(m.type, s->type);
			assert_int_equal(m.reqid, 77);
			struct buf d = { 0 };
			assert_int_equal(ipc_dump(&m, &d), 0);
			assert_true(d.len >= strlen(s->name));
			assert_memory_equal(d.data, s->name, strlen(s->name));
			buf_fini(&d);
			ipc_writer_fini(&w);
		}
	}
}

/* A backup request, built and read back field by field. */
static void test_typed_values(void **state)
{
	(void)state;
	struct ipc_writer w;
	ipc_writer_init(&w, IPC_BACKUP, 9);
	ipc_put_str(&w, "payroll");
	ipc_put_list(&w, 2);
	ipc_put_str(&w, "/srv/a");
	ipc_put_str(&w, "/srv/b b");
	ipc_put_list(&w, 0);
	ipc_put_str(&w, "sched:payroll:backup:1767225600");
	ipc_put_u32(&w, 3);
	ipc_put_u8(&w, 1);
	assert_int_equal(ipc_writer_finish(&w), 0);

	struct ipc_msg m;
	assert_int_equal(ipc_decode(w.b.data, w.b.len, &m, NULL, 0), 0);
	struct ipc_reader rd;
	char s[64], p[4097];
	uint32_t n, attempt;
	uint8_t watch;
	ipc_reader_init(&rd, &m);
	assert_int_equal(ipc_get_str(&rd, s, sizeof s), 0);
	assert_string_equal(s, "payroll");
	assert_int_equal(ipc_get_list(&rd, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ipc_get_str(&rd, p, sizeof p), 0);
	assert_string_equal(p, "/srv/a");
	assert_int_equal(ipc_get_str(&rd, p, sizeof p), 0);
	assert_string_equal(p, "/srv/b b");
	assert_int_equal(ipc_end(&rd), -EPROTO); /* not all read yet */
	assert_int_equal(ipc_get_list(&rd, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ipc_get_str(&rd, s, 8), -ENAMETOOLONG);
	assert_int_equal(ipc_get_u32(&rd, &attempt), 0);
	assert_int_equal(attempt, 3);
	assert_int_equal(ipc_get_u8(&rd, &watch), 0);
	assert_int_equal(watch, 1);
	assert_int_equal(ipc_end(&rd), 0);

	/* A getter of the wrong kind is refused. */
	ipc_reader_init(&rd, &m);
	assert_int_equal(ipc_get_u32(&rd, &n), -EPROTO);
	assert_int_equal(ipc_get_str(&rd, s, sizeof s), -EPROTO); /* the error sticks */

	struct buf d = { 0 };
	assert_int_equal(ipc_dump(&m, &d), 0);
	assert_int_equal(buf_put_u8(&d, 0), 0);
	assert_string_equal((char *)d.data,
			    "backup dataset=\"payroll\" paths=[\"/srv/a\", \"/srv/b b\"] tags=[] "
			    "request_key=\"sched:payroll:backup:1767225600\" attempt=3 watch=1");
	buf_fini(&d);
	ipc_writer_fini(&w);
}

static void test_secrets_not_dumped(void **state)
{
	(void)state;
	struct ipc_writer w;
	ipc_writer_init(&w, IPC_KEYSTORE_UNLOCK, 1);
	ipc_put_str(&w, "hunter2");
	ipc_put_list(&w, 1);
	ipc_put_bytes(&w, "SHAREBYTES", 10);
	assert_int_equal(ipc_writer_finish(&w), 0);
	struct ipc_msg m;
	assert_int_equal(ipc_decode(w.b.data, w.b.len, &m, NULL, 0), 0);
	struct buf d = { 0 };
	assert_int_equal(ipc_dump(&m, &d), 0);
	assert_int_equal(buf_put_u8(&d, 0), 0);
	assert_null(strstr((char *)d.data, "hunter2"));
	assert_null(strstr((char *)d.data, "SHARE"));
	assert_non_null(strstr((char *)d.data, "(secret)"));
	buf_fini(&d);
	ipc_writer_fini(&w);
}

static void test_malformed_frames(void **state)
{
	(void)state;
	struct ipc_writer w;
	struct ipc_msg m;
	char why[200];
	ipc_writer_init(&w, IPC_RESTORE, 5);
	ipc_put_str(&w, "ds");
	ipc_put_str(&w, "latest");
	ipc_put_str(&w, "/tmp/t");
	ipc_put_list(&w, 1);
	ipc_put_str(&w, "/srv");
	ipc_put_u8(&w, 0);
	assert_int_equal(ipc_writer_finish(&w), 0);
	uint8_t *f = w.b.data;
	size_t len = w.b.len;

	/* Cut at every byte: the frame length no longer matches, or the payload is short. */
	for (size_t n = 0; n < len; n++) {
		uint8_t copy[512];
		memcpy(copy, f, n);
		if (n >= 4)
			le32_put(copy, (uint32_t)(n - 4)); /* a consistent but short frame */
		int e = ipc_decode(copy, n, &m, why, sizeof why);
		assert_true(e == -EPROTO || e == -EMSGSIZE);
	}
	/* One byte added. */
	uint8_t more[512];
	memcpy(more, f, len);
	more[len] = 0;
	le32_put(more, (uint32_t)(len + 1 - 4));
	assert_int_equal(ipc_decode(more, len + 1, &m, why, sizeof why), -EPROTO);
	assert_non_null(strstr(why, "after the last field"));
	/* A string length one over its maximum (the dataset field, 64). */
	memcpy(more, f, len);
	le32_put(more + 12, 65);
	assert_int_equal(ipc_decode(more, len, &m, why, sizeof why), -EPROTO);
	assert_non_null(strstr(why, "dataset"));
	/* A NUL inside a string. */
	memcpy(more, f, len);
	more[12 + 4] = 0;
	assert_int_equal(ipc_decode(more, len, &m, why, sizeof why), -EPROTO);
	assert_non_null(strstr(why, "NUL"));
	/* A list count over its maximum (includes: 256). */
	memcpy(more, f, len);
	size_t list_off = 12 + (4 + 2) + (4 + 6) + (4 + 6);
	assert_int_equal(le32_get(more + list_off), 1);
	le32_put(more + list_off, 257);
	assert_int_equal(ipc_decode(more, len, &m, why, sizeof why), -EPROTO);
	assert_non_null(strstr(why, "includes"));
	/* Another version; an unknown type. */
	memcpy(more, f, len);
	le16_put(more + 4, 2);
	assert_int_equal(ipc_decode(more, len, &m, why, sizeof why), -EPROTONOSUPPORT);
	memcpy(more, f, len);
	le16_put(more + 6, 0x0999);
	assert_int_equal(ipc_decode(more, len, &m, why, sizeof why), -EPROTO);
	/* Frame lengths the header alone condemns. */
	size_t fl;
	uint8_t hdr[4];
	le32_put(hdr, IPC_FRAME_MAX + 1);
	assert_int_equal(ipc_frame_len(hdr, 4, &fl), -EMSGSIZE);
	le32_put(hdr, 7);
	assert_int_equal(ipc_frame_len(hdr, 4, &fl), -EPROTO);
	assert_int_equal(ipc_frame_len(hdr, 3, &fl), -EAGAIN);
	assert_int_equal(ipc_frame_len(f, len - 1, &fl), -EAGAIN);
	assert_int_equal(ipc_frame_len(f, len, &fl), 0);
	assert_int_equal(fl, len);
	ipc_writer_fini(&w);
}

static void test_writer_refusals(void **state)
{
	(void)state;
	struct ipc_writer w;
	char big[100];
	memset(big, 'a', sizeof big);
	/* Out of order. */
	ipc_writer_init(&w, IPC_DATASET_CREATE, 1);
	ipc_put_u32(&w, 1);
	assert_int_equal(ipc_writer_finish(&w), -EPROTO);
	ipc_writer_fini(&w);
	/* Missing fields. */
	ipc_writer_init(&w, IPC_DATASET_CREATE, 1);
	ipc_put_str(&w, "x");
	assert_int_equal(ipc_writer_finish(&w), -EPROTO);
	ipc_writer_fini(&w);
	/* Too long, a NUL, too many items, an unknown type. */
	ipc_writer_init(&w, IPC_DATASET_SHOW, 1);
	ipc_put_strn(&w, big, 65);
	assert_int_equal(ipc_writer_finish(&w), -ENAMETOOLONG);
	ipc_writer_fini(&w);
	ipc_writer_init(&w, IPC_DATASET_SHOW, 1);
	ipc_put_strn(&w, "a\0b", 3);
	assert_int_equal(ipc_writer_finish(&w), -EINVAL);
	ipc_writer_fini(&w);
	ipc_writer_init(&w, IPC_KEYSTORE_UNLOCK, 1);
	ipc_put_str(&w, "");
	ipc_put_list(&w, 65);
	assert_int_equal(ipc_writer_finish(&w), -E2BIG);
	ipc_writer_fini(&w);
	ipc_writer_init(&w, 0x0999, 1);
	assert_int_equal(ipc_writer_finish(&w), -EPROTO);
	ipc_writer_fini(&w);
	/* A list with fewer items than announced. */
	ipc_writer_init(&w, IPC_POLICY_SHOW | IPC_REPLY, 1);
	ipc_put_str(&w, "d");
	ipc_put_str(&w, "@daily");
	ipc_put_list(&w, 2);
	ipc_put_str(&w, "/a");
	ipc_put_u32(&w, 1);
	assert_int_equal(ipc_writer_finish(&w), -EPROTO);
	ipc_writer_fini(&w);
}

static void test_error_frames(void **state)
{
	(void)state;
	struct ipc_writer w;
	struct ipc_msg m;
	char msg[2048], small[8];
	int code;
	memset(msg, 'e', sizeof msg - 1);
	msg[sizeof msg - 1] = 0;
	/* A message longer than the field is cut, not refused. */
	assert_int_equal(ipc_error_frame(&w, 4, -EACCES, msg), 0);
	assert_int_equal(ipc_decode(w.b.data, w.b.len, &m, NULL, 0), 0);
	assert_int_equal(ipc_error_read(&m, &code, msg, sizeof msg), 0);
	assert_int_equal(code, EACCES);
	assert_int_equal(strlen(msg), 1024);
	assert_int_equal(ipc_error_read(&m, &code, small, sizeof small), 0);
	assert_string_equal(small, "eeeeeee");
	ipc_writer_fini(&w);
}

/* A server that answers one request, writing its reply one byte at a time. */
struct server {
	char path[108];
	int lfd;
	int mode; /* 0: reply slowly, 1: error reply, 2: say nothing */
};

static void *serve(void *arg)
{
	struct server *sv = arg;
	int fd = accept(sv->lfd, NULL, NULL);
	assert_true(fd >= 0);
	uint8_t in[256];
	size_t got = 0, fl = 0;
	while (ipc_frame_len(in, got, &fl) == -EAGAIN) {
		ssize_t k = read(fd, in + got, sizeof in - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	struct ipc_msg m;
	if (ipc_decode(in, fl, &m, NULL, 0) == 0 && sv->mode != 2) {
		struct ipc_writer w;
		if (sv->mode == 1) {
			ipc_error_frame(&w, m.reqid, EACCES, "dataset create needs role sysadmin");
		} else {
			/* An unrelated event first (another request ID), then the reply. */
			ipc_writer_init(&w, IPC_EV_LOG, m.reqid + 100);
			ipc_put_u64(&w, 1);
			ipc_put_u8(&w, 2);
			ipc_put_str(&w, "noise");
			ipc_writer_finish(&w);
			assert_int_equal(write(fd, w.b.data, w.b.len), (ssize_t)w.b.len);
			ipc_writer_fini(&w);
			ipc_writer_init(&w, IPC_STATUS | IPC_REPLY, m.reqid);
			ipc_put_str(&w, "backupd");
			ipc_put_str(&w, "0.1.0");
			ipc_put_i64(&w, 1767225600);
			ipc_put_u8(&w, 2);
			ipc_put_u32(&w, 1);
			ipc_put_u32(&w, 0);
			ipc_put_str(&w, "");
			ipc_writer_finish(&w);
		}
		for (size_t i = 0; i < w.b.len; i++) {
			assert_int_equal(write(fd, w.b.data + i, 1), 1);
			if (sv->mode == 0 && i % 8 == 0)
				usleep(200);
		}
		ipc_writer_fini(&w);
	} else {
		usleep(300 * 1000);
	}
	close(fd);
	return NULL;
}

static void client_case(int mode)
{
	struct server sv = { .mode = mode };
	char dir[] = "/tmp/coffer-ipc.XXXXXX";
	assert_non_null(mkdtemp(dir));
	assert_int_equal(ipc_socket_path(dir, "backupd", sv.path, sizeof sv.path), 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sv.path);
	sv.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(sv.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(sv.lfd, 4), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, serve, &sv), 0);

	struct ipc_client *c;
	assert_int_equal(ipc_connect(dir, "backupd", &c), 0);
	struct ipc_writer w;
	ipc_writer_init(&w, IPC_STATUS, ipc_next_reqid(c));
	assert_int_equal(ipc_writer_finish(&w), 0);
	struct ipc_msg m;
	char err[256] = "";
	int e = ipc_call(c, &w, &m, mode == 2 ? 100 : 5000, err, sizeof err);
	if (mode == 0) {
		assert_int_equal(e, 0);
		assert_int_equal(m.type, IPC_STATUS | IPC_REPLY);
		struct ipc_reader rd;
		char name[33];
		ipc_reader_init(&rd, &m);
		assert_int_equal(ipc_get_str(&rd, name, sizeof name), 0);
		assert_string_equal(name, "backupd");
	} else if (mode == 1) {
		assert_int_equal(e, -EACCES);
		assert_string_equal(err, "dataset create needs role sysadmin");
	} else {
		assert_int_equal(e, -ETIMEDOUT);
	}
	ipc_writer_fini(&w);
	ipc_close(c);
	pthread_join(t, NULL);
	close(sv.lfd);
	unlink(sv.path);
	rmdir(dir);
	/* No daemon: the two "not running" errors. */
	struct ipc_client *none;
	assert_int_equal(ipc_connect(dir, "backupd", &none), -ENOENT);
}

static void test_client_slow_reply(void **state) { (void)state; client_case(0); }
static void test_client_error_reply(void **state) { (void)state; client_case(1); }
static void test_client_timeout(void **state) { (void)state; client_case(2); }

/* The message table of docs/protocol/ipc.md, rendered from the schemas. */
static const char *kind_name(enum ipc_kind k)
{
	static const char *const names[] = { "?", "u8", "u32", "u64", "i64", "str", "bytes",
					     "list" };
	return names[k <= IPC_LIST ? k : 0];
}

static void doc_field(struct buf *b, const struct ipc_field *f)
{
	char t[160];
	if (f->kind == IPC_STR || f->kind == IPC_BYTES)
		snprintf(t, sizeof t, "%s %s\u2264%u%s", f->name, kind_name(f->kind), f->max,
			 f->secret ? " (secret)" : "");
	else
		snprintf(t, sizeof t, "%s %s", f->name, kind_name(f->kind));
	assert_int_equal(buf_put(b, t, strlen(t)), 0);
}

static void test_protocol_doc_matches(void **state)
{
	(void)state;
	struct buf want = { 0 }, doc = { 0 };
	char t[200];
	const char *head = "| type | message | fields, in order |\n|---|---|---|\n";
	assert_int_equal(buf_put(&want, head, strlen(head)), 0);
	for (size_t i = 0; ipc_schema_at(i) != NULL; i++) {
		const struct ipc_schema *s = ipc_schema_at(i);
		snprintf(t, sizeof t, "| 0x%04x | %s | %s", s->type, s->name, s->n ? "" : "\u2014");
		assert_int_equal(buf_put(&want, t, strlen(t)), 0);
		for (size_t j = 0; j < s->n; j++) {
			const struct ipc_field *f = &s->fields[j];
			if (j > 0)
				assert_int_equal(buf_put(&want, ", ", 2), 0);
			if (f->kind != IPC_LIST) {
				doc_field(&want, f);
				continue;
			}
			snprintf(t, sizeof t, "%s list\u2264%u of {", f->name, f->max);
			assert_int_equal(buf_put(&want, t, strlen(t)), 0);
			for (size_t q = 0; q < f->n_item; q++) {
				if (q > 0)
					assert_int_equal(buf_put(&want, ", ", 2), 0);
				doc_field(&want, &f->item[q]);
			}
			assert_int_equal(buf_put(&want, "}", 1), 0);
		}
		assert_int_equal(buf_put(&want, " |\n", 3), 0);
	}
	assert_int_equal(buf_put_u8(&want, 0), 0);
	FILE *fp = fopen(COFFER_SRC_DIR "/docs/protocol/ipc.md", "r");
	assert_non_null(fp);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		assert_int_equal(buf_put(&doc, chunk, n), 0);
	fclose(fp);
	assert_int_equal(buf_put_u8(&doc, 0), 0);
	if (strstr((char *)doc.data, (char *)want.data) == NULL) {
		fprintf(stderr, "docs/protocol/ipc.md lacks this table (update it):\n%s",
			(char *)want.data);
		fail();
	}
	buf_fini(&want);
	buf_fini(&doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schemas_well_formed),
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_typed_values),
		cmocka_unit_test(test_secrets_not_dumped),
		cmocka_unit_test(test_malformed_frames),
		cmocka_unit_test(test_writer_refusals),
		cmocka_unit_test(test_error_frames),
		cmocka_unit_test(test_client_slow_reply),
		cmocka_unit_test(test_client_error_reply),
		cmocka_unit_test(test_client_timeout),
		cmocka_unit_test(test_protocol_doc_matches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
