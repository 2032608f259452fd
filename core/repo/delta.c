/*
 * Delta blob encoding and application with librsync; see delta.h and
 * docs/format/delta.md.
 *
 * Encoding first tries a plain comparison at equal offsets (a chunk of a
 * file changed in place), writing the rdiff command stream itself, and
 * falls back to librsync's signature and delta search when content moved.
 * Either way the result is applied with librsync and compared with the
 * chunk before it is returned.
 *
 * librsync works on streams; every buffer here is whole in memory, so each
 * job is run once over its complete input. Decoding is the dangerous
 * direction (the delta comes from storage): its output is written into a
 * buffer sized from the header's length and never grown, and copy
 * commands are bounded by the base, so a hostile delta can neither
 * allocate nor read out of bounds.
 */
#include "repo/delta.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <librsync.h>

#include "util/mem.h"

#define DELTA_MAGIC_LEN 4
/*
 * Commands of the rdiff delta stream that the aligned encoder writes
 * (librsync's command table): end, a literal with a 4-byte length, a copy
 * with 4-byte offset and length; all big-endian.
 */
#define RDIFF_OP_END 0x00
#define RDIFF_OP_LITERAL_N4 0x43
#define RDIFF_OP_COPY_N4_N4 0x4f
/* The aligned encoder compares base and chunk in steps of this many bytes. */
#define DELTA_GRAIN 64
/* Short MD4 strong sums (the cheapest librsync offers): a false or forged
 * block match only makes the verification in delta_encode fail, and the
 * chunk is stored whole. */
#define DELTA_STRONG_LEN 8

static pthread_once_t delta_trace_once = PTHREAD_ONCE_INIT;

static void delta_trace_quiet(rs_loglevel level, char const *msg)
{
	(void)level;
	(void)msg;
}

/* librsync logs corrupt input to stderr; we report errors ourselves. */
static void delta_trace_init(void)
{
	rs_trace_to(delta_trace_quiet);
	rs_trace_set_level(RS_LOG_EMERG);
}

int delta_header_decode(const uint8_t *p, size_t len, struct delta_header *h)
{
	struct rbuf r;
	struct delta_header t;
	const uint8_t *magic;
	rbuf_init(&r, p, len);
	if (rbuf_get_u8(&r, &t.version) != 0)
		return -EBADMSG;
	if (t.version != DELTA_VERSION)
		return -ENOTSUP;
	if (rbuf_get(&r, t.base_id, sizeof t.base_id) != 0 || rbuf_get_u32(&r, &t.length) != 0)
		return -EBADMSG;
	if (t.length == 0 || t.length > BLOB_MAX_SIZE)
		return -EBADMSG;
	t.body_len = rbuf_left(&r);
	if (rbuf_get_ref(&r, t.body_len, &t.body) != 0 || t.body_len < DELTA_MAGIC_LEN)
		return -EBADMSG;
	/* The rdiff magic is big-endian, unlike our own fields. */
	magic = t.body;
	if (((uint32_t)magic[0] << 24 | (uint32_t)magic[1] << 16 | (uint32_t)magic[2] << 8 |
	     magic[3]) != RS_DELTA_MAGIC)
		return -EBADMSG;
	*h = t;
	return 0;
}

/*
 * Runs job over the whole of in (end of input included), appending its
 * output to out (NULL: the job writes nothing). More than max_out bytes
 * of output -> -EFBIG. Other failures of the job -> err.
 */
static int delta_run(rs_job_t *job, const uint8_t *in, size_t in_len, struct buf *out,
		     size_t max_out, int err)
{
	rs_buffers_t b = {
		.next_in = (char *)(uintptr_t)in, .avail_in = in_len, .eof_in = 1,
	};
	size_t start = out != NULL ? out->len : 0;
	for (;;) {
		size_t room = 0;
		if (out != NULL) {
			size_t used = out->len - start;
			if (used > max_out)
				return -EFBIG;
			size_t want = 64u << 10;
			if (want > max_out + 1 - used)
				want = max_out + 1 - used;
			int e = buf_reserve(out, want);
			if (e != 0)
				return e;
			b.next_out = (char *)out->data + out->len;
			b.avail_out = room = want;
		}
		size_t in_before = b.avail_in;
		rs_result rr = rs_job_iter(job, &b);
		if (out != NULL)
			out->len += room - b.avail_out;
		if (rr == RS_DONE)
			return out != NULL && out->len - start > max_out ? -EFBIG : 0;
		if (rr == RS_MEM_ERROR)
			return -ENOMEM;
		if (rr != RS_BLOCKED)
			return err;
		/* Blocked with all input given and room left, having done
		 * nothing: it can never finish. */
		if (b.avail_out == room && b.avail_in == in_before && room != 0)
			return err;
		if (out == NULL && b.avail_in == in_before)
			return err;
	}
}

/* Where a patch job copies from: the base chunk, bounds-checked. */
struct delta_base {
	const uint8_t *p;
	size_t len;
};

static rs_result delta_copy(void *opaque, rs_long_t pos, size_t *len, void **buf)
{
	const struct delta_base *b = opaque;
	if (pos < 0 || (uint64_t)pos >= b->len || *len == 0)
		return RS_CORRUPT;
	size_t n = b->len - (size_t)pos;
	if (n > *len)
		n = *len;
	memcpy(*buf, b->p + pos, n);
	*len = n;
	return RS_DONE;
}

int delta_apply(const struct delta_header *h, const uint8_t *base, size_t base_len,
		struct buf *out)
{
	struct delta_base db = { .p = base, .len = base_len };
	(void)pthread_once(&delta_trace_once, delta_trace_init);
	buf_reset(out);
	/* Room for one byte more than promised, so that a delta producing
	 * too much is seen as such and not as one that stalls. */
	int e = buf_reserve(out, (size_t)h->length + 1);
	if (e != 0)
		return e;
	rs_job_t *job = rs_patch_begin(delta_copy, &db);
	if (job == NULL)
		return -ENOMEM;
	rs_buffers_t b = {
		.next_in = (char *)(uintptr_t)h->body, .avail_in = h->body_len, .eof_in = 1,
		.next_out = (char *)out->data, .avail_out = (size_t)h->length + 1,
	};
	e = -EBADMSG;
	for (;;) {
		size_t in_before = b.avail_in, out_before = b.avail_out;
		rs_result rr = rs_job_iter(job, &b);
		if (rr == RS_DONE) {
			if (b.avail_out == 1 && b.avail_in == 0)
				e = 0;
			break;
		}
		if (rr == RS_MEM_ERROR) {
			e = -ENOMEM;
			break;
		}
		if (rr != RS_BLOCKED || b.avail_out == 0 ||
		    (b.avail_in == in_before && b.avail_out == out_before))
			break;
	}
	rs_job_free(job);
	if (e == 0)
		out->len = h->length;
	else
		mem_wipe(out->data, (size_t)h->length + 1);
	return e;
}

int delta_reconstruct(const struct suite *s, const uint8_t id_key[CRYPTO_KEY_LEN],
		      const uint8_t id[BLOB_ID_LEN], const struct delta_header *h,
		      const uint8_t *base, size_t base_len, struct buf *out)
{
	uint8_t got[BLOB_ID_LEN];
	int e = delta_apply(h, base, base_len, out);
	if (e == 0)
		e = blob_id(s, id_key, out->data, out->len, got);
	if (e == 0 && crypto_memcmp(got, id, BLOB_ID_LEN) != 0)
		e = -EBADMSG;
	if (e != 0) {
		mem_wipe(out->data, out->len);
		buf_reset(out);
	}
	return e;
}

/* Signature of base, loaded and hashed, ready for a delta job. */
static int delta_signature(const uint8_t *base, size_t base_len, rs_signature_t **out)
{
	struct buf sigbytes = { 0 };
	rs_signature_t *sig = NULL;
	int e;
	rs_job_t *job = rs_sig_begin(DELTA_BLOCK_LEN, DELTA_STRONG_LEN, RS_MD4_SIG_MAGIC);
	if (job == NULL)
		return -ENOMEM;
	e = delta_run(job, base, base_len, &sigbytes, SIZE_MAX / 2, -EIO);
	rs_job_free(job);
	if (e != 0)
		goto out;
	job = rs_loadsig_begin(&sig);
	if (job == NULL) {
		e = -ENOMEM;
		goto out;
	}
	e = delta_run(job, sigbytes.data, sigbytes.len, NULL, 0, -EIO);
	rs_job_free(job);
	if (e == 0 && rs_build_hash_table(sig) != RS_DONE)
		e = -EIO;
	if (e == 0)
		*out = sig;
	else if (sig != NULL)
		rs_free_sumset(sig);
out:
	buf_fini(&sigbytes);
	return e;
}

static int put_be32(struct buf *b, uint32_t v)
{
	uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	return buf_put(b, p, sizeof p);
}

static int rdiff_copy(struct buf *b, size_t off, size_t len)
{
	int e = buf_put_u8(b, RDIFF_OP_COPY_N4_N4);
	if (e == 0)
		e = put_be32(b, (uint32_t)off);
	if (e == 0)
		e = put_be32(b, (uint32_t)len);
	return e;
}

static int rdiff_literal(struct buf *b, const uint8_t *p, size_t len)
{
	int e = buf_put_u8(b, RDIFF_OP_LITERAL_N4);
	if (e == 0)
		e = put_be32(b, (uint32_t)len);
	if (e == 0)
		e = buf_put(b, p, len);
	return e;
}

/* Length of the run of equal DELTA_GRAIN steps from i (all within common). */
static size_t same_run(const uint8_t *a, const uint8_t *b, size_t i, size_t common)
{
	size_t j = i;
	while (j < common) {
		size_t n = common - j < DELTA_GRAIN ? common - j : DELTA_GRAIN;
		if (memcmp(a + j, b + j, n) != 0)
			break;
		j += n;
	}
	return j - i;
}

/*
 * The common case of a file changed in place: the chunk is its base with
 * some ranges overwritten, at the same offsets. One comparison pass finds
 * them, to DELTA_GRAIN bytes, at memcmp speed, where librsync would hash
 * every block of both. Writes the rdiff stream (magic included) to out;
 * -EFBIG once it exceeds max_body bytes (content moved, or changed too
 * much: librsync's search is the fallback).
 */
static int delta_encode_aligned(const uint8_t *base, size_t base_len, const uint8_t *data,
				size_t len, size_t max_body, struct buf *out)
{
	size_t start = out->len, common = len < base_len ? len : base_len, i = 0;
	int e = put_be32(out, RS_DELTA_MAGIC);
	while (e == 0 && i < len) {
		size_t n = same_run(base, data, i, common);
		if (n > 0) {
			e = rdiff_copy(out, i, n);
		} else {
			/* Up to the next equal step, or to the end past the base. */
			size_t j = i;
			while (j < len && (j >= common || same_run(base, data, j, common) == 0))
				j = j >= common ? len : j + (common - j < DELTA_GRAIN ?
							    common - j : DELTA_GRAIN);
			n = j - i;
			e = rdiff_literal(out, data + i, n);
		}
		i += n;
		if (e == 0 && out->len - start > max_body)
			e = -EFBIG;
	}
	if (e == 0)
		e = buf_put_u8(out, RDIFF_OP_END);
	if (e == 0 && out->len - start > max_body)
		e = -EFBIG;
	return e;
}

int delta_encode(const uint8_t base_id[BLOB_ID_LEN], const uint8_t *base, size_t base_len,
		 const uint8_t *data, size_t len, size_t max_len, struct buf *out)
{
	rs_signature_t *sig = NULL;
	struct buf check = { 0 };
	struct delta_header h;
	int e;
	if (len == 0 || len > BLOB_MAX_SIZE || base_len == 0 || max_len < DELTA_HEADER_LEN)
		return -EINVAL;
	(void)pthread_once(&delta_trace_once, delta_trace_init);
	buf_reset(out);
	if ((e = buf_put_u8(out, DELTA_VERSION)) != 0 ||
	    (e = buf_put(out, base_id, BLOB_ID_LEN)) != 0 ||
	    (e = buf_put_u32(out, (uint32_t)len)) != 0)
		goto out;
	e = delta_encode_aligned(base, base_len, data, len, max_len - DELTA_HEADER_LEN, out);
	if (e == -EFBIG) {
		out->len = DELTA_HEADER_LEN;
		if ((e = delta_signature(base, base_len, &sig)) != 0)
			goto out;
		rs_job_t *job = rs_delta_begin(sig);
		if (job == NULL) {
			e = -ENOMEM;
			goto out;
		}
		e = delta_run(job, data, len, out, max_len - DELTA_HEADER_LEN, -EIO);
		rs_job_free(job);
	}
	if (e == 0)
		e = delta_header_decode(out->data, out->len, &h) == 0 ? 0 : -EIO;
	if (e == 0)
		e = delta_apply(&h, base, base_len, &check);
	if (e == 0 && (check.len != len || memcmp(check.data, data, len) != 0))
		e = -EIO;
out:
	if (sig != NULL)
		rs_free_sumset(sig);
	if (check.data != NULL)
		mem_wipe(check.data, check.len);
	buf_fini(&check);
	if (e != 0) {
		mem_wipe(out->data, out->len);
		buf_reset(out);
	}
	return e;
}
